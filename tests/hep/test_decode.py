"""HEP decoding: packets from an independent encoder (hep-js), our encoder's round trips,
HEPv1/v2 layouts, compressed payloads, vendor chunks and every rejection reason."""
from __future__ import annotations

import gzip
import json
import struct
import zlib
from pathlib import Path

import pytest

from hepserver.hep.decode import MAX_INFLATED, decode, find_resync, frame_length
from hepserver.hep.encode import chunk, encode_v2, encode_v3
from hepserver.hep.errors import HepDecodeError

DATA = Path(__file__).resolve().parents[1] / "data" / "hep"
FIXTURES = json.loads((DATA / "hepjs.json").read_text())
SIP = (b"INVITE sip:bob@b.example SIP/2.0\r\nCall-ID: x@y\r\nCSeq: 1 INVITE\r\n\r\n")


def mapped(ip: str) -> int:
    a, b, c, d = (int(x) for x in ip.split("."))
    return 0xFFFF00000000 | (a << 24) | (b << 16) | (c << 8) | d


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_packets_from_hep_js(name):
    """hep-js 1.0.22 wrote these (tools/make_hep_fixtures.js); every field must come back."""
    spec = FIXTURES[name]
    rc = spec["rcinfo"]
    packet = decode((DATA / f"{name}.bin").read_bytes(), arrival_us=1)
    assert packet.version == 3
    assert packet.payload == spec["payload"].encode()
    assert packet.proto_type == rc["payloadType"]
    assert packet.ip_family == rc["protocolFamily"] and packet.ip_proto == rc["protocol"]
    assert packet.src_ip == mapped(rc["srcIp"]) and packet.dst_ip == mapped(rc["dstIp"])
    assert (packet.src_port, packet.dst_port) == (rc["srcPort"], rc["dstPort"])
    assert packet.ts_us == rc["timeSeconds"] * 1_000_000 + rc["timeUseconds"]
    assert not packet.ts_from_arrival
    assert packet.capture_id == rc["captureId"]
    # hep-js always sends a node name, falling back to the capture id as text
    assert packet.node_name == rc.get("hepNodeName", str(rc["captureId"]))
    assert packet.correlation_id == rc.get("correlation_id")
    assert packet.auth_key == (rc["capturePass"].encode() if "capturePass" in rc else None)
    assert packet.mos == rc.get("mos")
    assert packet.vendor_chunks == (2 if name == "vendor_chunks" else None)


def test_round_trip_of_our_encoder():
    data = encode_v3(payload=SIP, src_ip="2001:db8::1", dst_ip="10.0.0.2", src_port=1,
                     dst_port=65535, ts_us=1_764_000_000_000_001, proto_type=1, capture_id=7,
                     auth_key=b"k", correlation_id="c", node_name="n", vlan=42, mos=401)
    packet = decode(data, arrival_us=0)
    assert packet.src_ip == 0x20010DB8000000000000000000000001
    assert packet.dst_ip == mapped("10.0.0.2")
    assert (packet.src_port, packet.dst_port, packet.vlan, packet.mos) == (1, 65535, 42, 401)
    assert (packet.capture_id, packet.auth_key, packet.correlation_id, packet.node_name) == \
        (7, b"k", "c", "n")
    assert packet.ts_us == 1_764_000_000_000_001 and packet.payload == SIP


def test_missing_time_falls_back_to_arrival():
    packet = decode(encode_v3(payload=SIP, ts_us=None), arrival_us=42)
    assert packet.ts_us == 42 and packet.ts_from_arrival


@pytest.mark.parametrize("compress", [zlib.compress, gzip.compress,
                                      lambda d: zlib.compress(d)[2:-4]])  # raw deflate
def test_compressed_payload_is_inflated(compress):
    body = b"".join(chunk(t, v) for t, v in ((0x0B, b"\x01"), (0x10, compress(SIP))))
    packet = decode(b"HEP3" + struct.pack(">H", len(body) + 6) + body, arrival_us=1)
    assert packet.payload == SIP and packet.payload_compressed


def test_zip_bomb_is_rejected():
    bomb = zlib.compress(b"\0" * (MAX_INFLATED + 1))
    body = chunk(0x10, bomb)
    with pytest.raises(HepDecodeError) as info:
        decode(b"HEP3" + struct.pack(">H", len(body) + 6) + body, arrival_us=1)
    assert info.value.reason == "too_large"


def test_vendor_chunk_does_not_replace_the_payload():
    evil = chunk(0x0F, b"not the payload", vendor=2)
    packet = decode(encode_v3(payload=SIP, extra=evil), arrival_us=1)
    assert packet.payload == SIP and packet.vendor_chunks == 1


@pytest.mark.parametrize("version,src,dst", [(2, "10.0.0.1", "10.0.0.2"),
                                             (2, "2001:db8::1", "2001:db8::2"),
                                             (1, "10.0.0.1", "10.0.0.2"),
                                             (1, "2001:db8::1", "2001:db8::2")])
def test_hep_v1_v2_layouts(version, src, dst):
    data = encode_v2(payload=SIP, src_ip=src, dst_ip=dst, src_port=5060, dst_port=5061,
                     ts_us=1_764_000_000_500_000, capture_id=2002, version=version)
    # v2 payload starts at 28 (IPv4) / 52 (IPv6), v1 at 16 / 40 (spec section 2)
    assert data.index(SIP) == {(2, 4): 28, (2, 6): 52, (1, 4): 16, (1, 6): 40}[
        (version, 4 if "." in src else 6)]
    packet = decode(data, arrival_us=9)
    assert packet.version == version and packet.payload == SIP and packet.proto_type == 1
    assert (packet.src_port, packet.dst_port) == (5060, 5061)
    if version == 2:
        assert packet.ts_us == 1_764_000_000_500_000 and packet.capture_id == 2002
    else:
        assert packet.ts_us == 9 and packet.ts_from_arrival


REJECTS = [
    (b"", "truncated"),
    (b"HEP3\x00", "truncated"),
    (b"XXXX\x00\x06", "bad_magic"),
    (b"HEP3\x00\x07", "bad_length"),  # claims 7 bytes, has 6
    (b"HEP3\x00\x0c\x00\x00\x00\x01\x00\x05", "chunk_length"),  # chunk length 5
    (b"HEP3\x00\x0c\x00\x00\x00\x01\x00\x09", "chunk_length"),  # past the end
    (b"HEP3\x00\x09\x00\x00\x00", "truncated"),  # chunk header cut off
    (b"HEP3\x00\x0d\x00\x00\x00\x07\x00\x07\x01", "chunk_size"),  # 1-byte port
    (b"\x02\x10\x07\x11" + b"\x00" * 30, "bad_family"),
    (b"\x02\x10\x02\x11" + b"\x00" * 10, "truncated"),
]


@pytest.mark.parametrize("data,reason", REJECTS)
def test_rejections_name_their_reason(data, reason):
    with pytest.raises(HepDecodeError) as info:
        decode(data, arrival_us=0)
    assert info.value.reason == reason


def test_stream_framing():
    one = encode_v3(payload=SIP)
    assert frame_length(one[:5]) is None
    assert frame_length(one) == len(one)
    with pytest.raises(HepDecodeError):
        frame_length(b"GARBAGE!")
    stream = b"junk" + one
    assert find_resync(stream, 1) == 4
    assert find_resync(b"nothing here", 0) is None


@pytest.mark.parametrize("k", range(4))
def test_sngrep_v2_and_v3_agree(k):
    """sngrep sent the same captured SIP message as HEPv2 and HEPv3 (tests/data/hep/README.md)."""
    v2 = decode((DATA / f"sngrep_v2_{k}.bin").read_bytes(), arrival_us=0)
    v3 = decode((DATA / f"sngrep_v3_{k}.bin").read_bytes(), arrival_us=0)
    assert (v2.version, v3.version) == (2, 3)
    for field in ("ts_us", "src_ip", "dst_ip", "src_port", "dst_port", "ip_family", "ip_proto",
                  "payload", "proto_type"):
        assert getattr(v2, field) == getattr(v3, field), field
    assert v2.ts_us // 1_000_000 == 1795559031 and not v2.ts_from_arrival
    assert v2.capture_id == 2002 and v3.capture_id == 131203072  # stored as the wire says
    assert v2.payload.startswith((b"INVITE", b"SIP/2.0", b"ACK"))
