"""Fuzzing the decoders.

Invariant: any bytes either decode to a HepPacket or raise HepDecodeError, nothing else
escapes; parse_sip never raises. Inputs: random bytes, and valid packets (ours and hep-js')
truncated, extended, or with bytes overwritten, whole and as a TCP stream cut anywhere.
"""
from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from hepserver.hep.decode import HepPacket, decode, find_resync, frame_length
from hepserver.hep.encode import chunk, encode_v2, encode_v3
from hepserver.hep.errors import HepDecodeError
from hepserver.sip.parser import SipInfo, parse_sip

DATA = Path(__file__).resolve().parents[1] / "data" / "hep"
SIP = (b"INVITE sip:bob@b.example SIP/2.0\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\n"
       b"Call-ID: c@d\r\nCSeq: 1 INVITE\r\nContact: <sip:a@1.2.3.4>;expires=60\r\n\r\nv=0")
VALID = [encode_v3(payload=SIP, ts_us=1, correlation_id="x", node_name="n", vlan=1),
         encode_v3(payload=SIP, compress=True),
         encode_v3(payload=b"x", extra=chunk(0x0F, b"vendor", vendor=3)),
         encode_v2(payload=SIP), encode_v2(payload=SIP, src_ip="::1", dst_ip="::2", version=1)]
VALID += [p.read_bytes() for p in sorted(DATA.glob("*.bin"))]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes) -> None:
    try:
        packet = decode(data, arrival_us=123)
    except HepDecodeError as exc:
        assert exc.reason and isinstance(exc.offset, int)
        return
    assert isinstance(packet, HepPacket)
    assert isinstance(packet.payload, bytes) and packet.ts_us >= 0
    info = parse_sip(packet.payload)
    assert info is None or isinstance(info, SipInfo)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data):
    check(data)
    check(b"HEP3" + data)
    check(bytes([2, 16, 2, 17]) + data)


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) if draw(st.booleans()) else bytes(data)


@FUZZ
@given(mutated())
def test_mutated_packets(data):
    check(data)


@FUZZ
@given(st.sampled_from(VALID), st.integers(0, 2**16 - 1), st.integers(0, 2**16 - 1))
def test_lengths_lie(packet, total, chunk_length):
    data = bytearray(packet)
    if data[:4] == b"HEP3":
        data[4:6] = total.to_bytes(2, "big")
        data[10:12] = chunk_length.to_bytes(2, "big")
    check(bytes(data))


@FUZZ
@given(st.lists(st.sampled_from(VALID[:3]), min_size=1, max_size=5),
       st.lists(st.integers(1, 200), min_size=1, max_size=20), st.binary(max_size=20))
def test_stream_cut_anywhere(packets, cuts, garbage):
    """Framing a stream that arrives in arbitrary pieces yields every packet, whole; garbage
    before them is skipped by resynchronising on the magic."""
    stream = garbage.replace(b"HEP3", b"hep3").replace(b"EEP3", b"eep3") + b"".join(packets)
    buffer, out, pos = bytearray(), [], 0
    pieces = []
    for cut in cuts * 50:
        if pos >= len(stream):
            break
        pieces.append(stream[pos:pos + cut])
        pos += cut
    pieces.append(stream[pos:])
    for piece in pieces:
        buffer += piece
        while True:
            try:
                length = frame_length(buffer)
            except HepDecodeError:
                found = find_resync(buffer, 1)
                del buffer[:found if found is not None else max(0, len(buffer) - 3)]
                if found is None:
                    break
                continue
            if length is None or len(buffer) < length:
                break
            out.append(bytes(buffer[:length]))
            del buffer[:length]
    assert out == packets


@FUZZ
@given(st.binary(max_size=400))
def test_sip_parser_never_raises(data):
    info = parse_sip(data)
    assert info is None or isinstance(info, SipInfo)
    info = parse_sip(SIP[:40] + data)
    assert info is None or isinstance(info, SipInfo)


@FUZZ
@given(st.text(max_size=200))
def test_sip_parser_on_text(text):
    message = "INVITE sip:x@y SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n" + text + "\r\n\r\n"
    info = parse_sip(message.encode("utf-8", "surrogatepass"))
    assert info is None or isinstance(info, SipInfo)
