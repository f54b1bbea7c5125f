"""End to end on loopback: HEP over UDP and TCP (IPv4 and IPv6), valid and invalid packets
mixed; every valid packet is stored exactly once, every invalid one is counted by reason."""
from __future__ import annotations

import random
import socket

import pytest

from hepserver.hep.encode import chunk, encode_v2, encode_v3
from hepserver.ingest.listeners import open_sockets
from tests.hepserver.conftest import wait_for


def sip(call_id: str, method: str = "INVITE") -> bytes:
    return (f"{method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{call_id}"
            f"\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\n\r\n").encode()


INVALID = [b"", b"HEP3", b"HEP3\x00\x07", b"nonsense", b"HEP3\x00\x0c\x00\x00\x00\x01\x00\x09",
           b"\x02\x10\x07\x11" + b"\0" * 30]


def stored_call_ids(db) -> list[str]:
    return db.scan(columns=["call_id"], filters=[("source", "==", 1)]).column(0).to_pylist()


def test_udp_and_tcp_mixed_with_garbage(start_daemon):
    daemon = start_daemon()
    port = daemon.ports["udp"]
    rng = random.Random(5)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    expected, invalid = [], 0
    for i in range(600):
        if rng.random() < 0.2:
            udp.sendto(rng.choice(INVALID), ("127.0.0.1", port))
            invalid += 1
        else:
            call_id = f"udp-{i}"
            expected.append(call_id)
            udp.sendto(encode_v3(payload=sip(call_id), ts_us=1_764_000_000_000_000 + i),
                       ("127.0.0.1", port))
    stream = b""
    for i in range(300):
        call_id = f"tcp-{i}"
        expected.append(call_id)
        stream += encode_v3(payload=sip(call_id, "BYE"))
        if i % 50 == 7:
            stream += b"garbage between frames"
    with socket.create_connection(("127.0.0.1", port)) as tcp:
        pos = 0
        while pos < len(stream):  # cut at arbitrary places
            step = rng.randint(1, 400)
            tcp.sendall(stream[pos:pos + step])
            pos += step
    assert wait_for(lambda: daemon.stats().get("stored", 0) >= len(expected))
    stats = daemon.stats()
    assert sorted(stored_call_ids(daemon.db)) == sorted(expected)  # each exactly once
    rejected = sum(v for k, v in stats.items() if k.startswith("rejected:") and "stream" not in k)
    assert rejected == invalid
    assert stats["rejected:stream_garbage"] >= 1
    assert stats["stored"] == len(expected) and stats["dropped:udp"] == 0


def test_ipv6_and_hep_v2_and_other_types(start_daemon):
    daemon = start_daemon(host="::1")
    port = daemon.ports["udp"]
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.sendto(encode_v3(payload=sip("v6-call"), src_ip="2001:db8::1", dst_ip="2001:db8::2"),
               ("::1", port))
    udp.sendto(encode_v2(payload=sip("v2-call"), src_ip="10.1.1.1", dst_ip="10.1.1.2",
                         ts_us=1_764_000_000_250_000), ("::1", port))
    udp.sendto(encode_v3(payload=b'{"jitter": 1}', proto_type=5, correlation_id="v6-call"),
               ("::1", port))
    udp.sendto(encode_v3(payload=b"log \xff\xfe binary", proto_type=100,
                         correlation_id="v6-call"), ("::1", port))
    assert wait_for(lambda: daemon.stats().get("stored", 0) >= 4)
    db = daemon.db
    assert db.count(by="source") == {1: 2, 5: 1, 100: 1}
    row = db.scan(filters=[("call_id", "==", "v6-call")], columns=["src_ip", "sip_method"])
    assert row.num_rows == 1
    assert int.from_bytes(row.column("src_ip")[0].as_py(), "little") == 0x20010DB8 << 96 | 1
    v2 = db.scan(filters=[("call_id", "==", "v2-call")], columns=["ts", "hep_version"])
    assert v2.to_pylist() == [{"ts": 1_764_000_000_250_000, "hep_version": 2}]
    log = db.scan(filters=[("source", "==", 100)], columns=["payload", "payload_latin1"])
    raw = log.column("payload")[0].as_py().encode("latin-1")
    assert raw == b"log \xff\xfe binary" and log.column("payload_latin1")[0].as_py() == 1
    assert db.count(filters=[("correlation_id", "==", "v6-call")]) == 2


def test_auth_key_rejects_strangers(start_daemon):
    daemon = start_daemon(auth_key=b"s3cret")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = ("127.0.0.1", daemon.ports["udp"])
    udp.sendto(encode_v3(payload=sip("good"), auth_key=b"s3cret"), addr)
    udp.sendto(encode_v3(payload=sip("bad"), auth_key=b"guess"), addr)
    udp.sendto(encode_v3(payload=sip("none")), addr)
    assert wait_for(lambda: daemon.stats().get("rejected:auth", 0) == 2
                    and daemon.stats().get("stored", 0) == 1)
    assert stored_call_ids(daemon.db) == ["good"]


def test_vendor_chunks_and_broken_sip_are_kept(start_daemon):
    daemon = start_daemon()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = ("127.0.0.1", daemon.ports["udp"])
    udp.sendto(encode_v3(payload=b"SIP/2.0 but not really", extra=chunk(0x0F, b"x", vendor=8)),
               addr)
    assert wait_for(lambda: daemon.stats().get("stored", 0) == 1)
    table = daemon.db.scan(columns=["payload", "sip_method", "vendor_chunks"])
    assert table.to_pylist() == [{"payload": "SIP/2.0 but not really", "sip_method": None,
                                  "vendor_chunks": 1}]
    assert daemon.stats()["sip_unparsed"] == 1


def test_port_in_use_is_a_clear_error():
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    try:
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1 port {port} \\(udp\\)"):
            open_sockets("127.0.0.1", port, 2)
    finally:
        blocker.close()
