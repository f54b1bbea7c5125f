"""The capture fast path (numba kernels, many packets at once) stores exactly what the
per-packet path (decode + parse_sip + RowBuffer) stores, with the same counters, for any input:
generated SIP traffic, packets from other encoders, HEPv1/v2, every rejection reason, and
random mutations of all of them.

Invariant: for every list of packets, the rows shipped (per HEP type, as a multiset, a column
left out meaning all nulls) and the counters are equal between WorkerSettings(fast_path=True)
and fast_path=False.
"""
from __future__ import annotations

import pickle
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hepserver.hep.encode import chunk, encode_v2, encode_v3
from hepserver.ingest.columns import decode_packets
from hepserver.ingest.listeners import SocketSet
from hepserver.ingest.worker import Worker, WorkerSettings
from hepserver.schema import column_names
from hepserver.sip.batch import SLOW, parse_batch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import hep_replay  # noqa: E402

DATA = ROOT / "tests" / "data" / "hep"
FIXTURES = [p.read_bytes() for p in sorted(DATA.glob("*.bin"))]
SIP = (b"INVITE sip:bob@b.example;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bKx"
       b"\r\nFrom: \"A \\\"q\\\"\" <sip:a@x>;tag=1\r\nTo: <tel:+123;x=y>\r\nCall-ID: c@d\r\n"
       b"CSeq: 7 INVITE\r\nContact: <sip:a@[::1]:5>;expires=60\r\nX-CID: leg\r\n\r\nv=0")
SAMPLES = FIXTURES + [
    encode_v3(payload=SIP, ts_us=1, correlation_id="x", node_name="n", vlan=1, mos=420),
    encode_v3(payload=SIP, compress=True), encode_v3(payload=SIP, auth_key=b"secret"),
    encode_v3(payload=SIP, src_ip="2001:db8::1", dst_ip="::2", capture_id=None),
    encode_v3(payload=b"x", extra=chunk(0x0F, b"vendor", vendor=3)),
    encode_v3(payload=b"\xff\xfe latin-1", proto_type=100, correlation_id="c@d"),
    encode_v3(payload=b'{"a": 1}', proto_type=5, node_name="café"),
    encode_v3(payload=b'{"a": 2}', proto_type=5, extra=chunk(0x13, b"bad \xff name")),
    encode_v3(payload=b"", proto_type=1), encode_v3(payload=SIP.replace(b"CSeq: 7 INVITE",
                                                                        b"CSeq: 7 invite")),
    encode_v2(payload=SIP), encode_v2(payload=SIP, src_ip="::1", dst_ip="::2", version=1),
    encode_v2(payload=SIP, ts_us=1_764_000_000_000_001),
    b"", b"HEP3", b"HEP3\x00\x07x", b"garbage", b"\x02\x10\x07\x11" + b"\0" * 30,
]


def shipped(packets: list[bytes], fast: bool, auth_key: bytes | None = None,
            batch_rows: int = 64) -> tuple[dict[int, list], Counter]:
    """Rows (normalised dicts, sorted) per HEP type and the counters a worker ships."""
    messages: list = []
    worker = Worker(SocketSet(), WorkerSettings(batch_rows=batch_rows, auth_key=auth_key,
                                                fast_path=fast), messages.append)
    for i, packet in enumerate(packets):
        worker.handle(packet, 1_000_000 + i)
    worker.ship_ready(force=True)
    worker.ship_counters()
    rows: dict[int, list] = {}
    counters: Counter = Counter()
    names = ["ts", *column_names()]
    it = iter(messages)
    for message in it:
        header = pickle.loads(message)
        counters.update(header[1] if header[0] == "counters" else header[2])
        if header[0] == "batch":
            table = pa.ipc.open_stream(pa.py_buffer(bytes(next(it)))).read_all()
            for row in table.to_pylist():
                rows.setdefault(header[1], []).append(
                    tuple((name, row.get(name)) for name in names))
    return {k: sorted(v, key=repr) for k, v in rows.items()}, counters


def assert_same(packets: list[bytes], auth_key: bytes | None = None,
                batch_rows: int = 64) -> None:
    fast = shipped(packets, True, auth_key, batch_rows)
    slow = shipped(packets, False, auth_key, batch_rows)
    assert fast[1] == slow[1]
    assert fast[0].keys() == slow[0].keys()
    for source in fast[0]:
        assert fast[0][source] == slow[0][source], f"HEP type {source}"


def test_generated_traffic_is_stored_alike():
    packets = hep_replay.generate(3000, rate=1000, seed=4, node_name="edge-1")
    assert_same(packets)
    parsed = parse_batch(*_payloads([m.payload for m in hep_replay.messages(500)]))
    assert not (parsed.status == SLOW).any()  # ordinary SIP never needs the slow path


def _payloads(payloads: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lengths = np.array([len(p) for p in payloads], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return np.frombuffer(b"".join(payloads), np.uint8), starts, lengths


def test_samples_and_rejections_alike():
    assert_same(SAMPLES * 3)


@pytest.mark.parametrize("key", [b"secret", b""])
def test_auth_key_alike(key):
    assert_same(SAMPLES, auth_key=key)


def test_batches_split_by_hep_type_and_size():
    packets = [p for p in SAMPLES if p[:4] == b"HEP3"] * 40
    random.Random(3).shuffle(packets)
    assert_same(packets, batch_rows=7)
    fast, counters = shipped(packets, True, batch_rows=7)
    assert {1, 5, 100} <= set(fast) and counters["received"] == len(packets)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SAMPLES[:-6])))
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=30))
def test_mutated_packets_alike(packets):
    assert_same(packets)


# SIP messages from a grammar of the things parsers get wrong: case, compact names, spaces,
# quotes, brackets, parameters, CR/LF variants, missing parts.
TRICKY = st.sampled_from([" ", "\t", ";", ",", ":", "<", ">", '"', "\\", "@", "[", "]", "?", "=",
                          "sip:", "SIPS:", "tel:", "tag", "expires", "branch", "username", "a",
                          "Z", "1", "\r", "\n", "\x0b", "\x1f", "x"])
VALUE = st.lists(TRICKY, max_size=12).map("".join)
NAMES = st.sampled_from(["Call-ID", "i", "From", "f", "TO", "t", "Contact", "m", "Via", "v",
                         "c", "Content-Type", "CSeq", "cseq ", "User-Agent", "Server",
                         "Expires", "P-Asserted-Identity", "Authorization",
                         "Proxy-Authorization", "X-CID", "x-leg-callid", "Max-Forwards", "l",
                         " Call-ID", ""])
START = st.sampled_from(["INVITE sip:bob@host SIP/2.0", "SIP/2.0 200 OK", "SIP/2.0 18 x",
                         "REGISTER  SIP/2.0", "bye sip:x SIP/2.0", "ACK sip:x@y SIP/2.0 ",
                         "OPTIONS tel:+1;a=b SIP/2.0", "SIP/2.0 486 Busy Here", "INVITE"])


@st.composite
def sip_messages(draw):
    lines = [draw(START)]
    if draw(st.booleans()):
        lines += ["Call-ID: " + draw(VALUE) + "id", "CSeq: " + draw(st.sampled_from(
            ["1 INVITE", "2 REGISTER", " 3  BYE ", "99999999999 ACK", "x OPTIONS", "1 IN",
             "4 invite", "5 NOTIFY extra"]))]
    for _ in range(draw(st.integers(0, 10))):
        lines.append(draw(NAMES) + draw(st.sampled_from([":", ": ", " : ", ""])) + draw(VALUE))
    newline = draw(st.sampled_from(["\r\n", "\n", "\r\n\r"]))
    random.Random(draw(st.integers(0, 9))).shuffle(lines[1:])
    text = newline.join(lines) + draw(st.sampled_from(["\r\n\r\nbody", "\n\nbody", "", "\r\n"]))
    return text.encode()


@FUZZ
@given(st.lists(sip_messages(), min_size=1, max_size=20))
def test_sip_grammar_alike(messages):
    assert_same([encode_v3(payload=m, ts_us=5) for m in messages])


def test_latin1_and_arrival_times():
    packets = [encode_v3(payload=bytes(range(256)), proto_type=100),
               encode_v3(payload=SIP)]  # no capture time: arrival stands in
    decoded = decode_packets(packets, np.array([7, 8], np.int64))
    assert decoded.slow == []
    log = decoded.batches[100].to_pylist()[0]
    assert log["payload"].encode("latin-1") == bytes(range(256)) and log["payload_latin1"] == 1
    sip = decoded.batches[1].to_pylist()[0]
    assert (sip["ts"], sip["ts_from_arrival"], sip["call_id"]) == (8, 1, "c@d")
    assert "vlan" not in decoded.batches[1].schema.names  # all-null columns are left out
