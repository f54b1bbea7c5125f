"""HEP rows for export tests, built the way the daemon builds them (decode, parse, RowBuffer)."""
from __future__ import annotations

import random

import hyena
from hepserver.hep.decode import decode
from hepserver.hep.encode import encode_v3
from hepserver.ingest.rows import RowBuffer
from hepserver.schema import ensure_schema
from hepserver.sip.parser import parse_sip

METHODS = ["INVITE", "REGISTER", "OPTIONS", "BYE"]
T0 = 1_764_000_000_000_000  # 2025-11-24 16:00 UTC, in microseconds


def open_capture_db(path, **options):
    db = hyena.open(path, **options)
    ensure_schema(db)
    return db


def fill(db, n: int, seed: int, start_us: int = T0, step_us: int = 50_000,
         types=(1, 1, 1, 5, 100)) -> None:
    """n packets of the given HEP types, a 20th of a second apart."""
    rng = random.Random(seed)
    buffers: dict[int, RowBuffer] = {}
    for i in range(n):
        hep_type = rng.choice(types)
        ts = start_us + i * step_us
        if hep_type == 1:
            method = rng.choice(METHODS)
            payload = (f"{method} sip:u{i % 97}@example.com SIP/2.0\r\nCall-ID: s{seed}-{i}\r\n"
                       f"CSeq: {i} {method}\r\nFrom: <sip:a{i % 13}@x>;tag=t{i}\r\n"
                       f"To: <sip:b@y>\r\n\r\n").encode()
        else:
            payload = f'{{"n": {i}, "seed": {seed}}}'.encode()
        v6 = rng.random() < 0.2
        src = f"2001:db8::{i % 65535:x}" if v6 else f"10.{i % 250}.{(i // 250) % 250}.1"
        packet = decode(encode_v3(payload=payload, ts_us=ts, proto_type=hep_type, src_ip=src,
                                  dst_ip="192.0.2.9", src_port=5060 + i % 3,
                                  correlation_id=None if hep_type == 1 else f"s{seed}-{i - 1}",
                                  node_name="node-a" if i % 2 else None), 0)
        buffers.setdefault(hep_type, RowBuffer()).add(
            packet, parse_sip(packet.payload) if hep_type == 1 else None)
    for hep_type, buffer in buffers.items():
        db.append_arrow(hep_type, buffer.take())
    db.flush()
