"""Writer process for the crash test: appends deterministic batches and reports acknowledgements.

Usage: python -m tests.engine.crash_writer DATA_DIR FIRST_BATCH
Prints "ready" after its first batch, and "ack N" (flushed) once batches 0..N are durable. The parent kills it at random moments.
"""
from __future__ import annotations

import sys

import numpy as np

import hyena

BLOCK_SIZE = 8192
SCHEMA = [("port", "u16"), ("call_id", "string"), ("addr", "u128_sparse"),
          ("reason", "string_sparse"), ("code", "i32_sparse"), ("rare", "i8_sparse")]
LATE_COLUMN = ("late", "i64_sparse")  # added by batch LATE_AT, to crash around a schema change
LATE_AT = 40
WORDS = ["", "INVITE", "BYE", "ü" * 40, "x" * 900, "😀"]


def batch(i: int) -> tuple[int, np.ndarray, dict]:
    """Batch i: the same every time it is asked for."""
    rng = np.random.default_rng(i)
    rows = int(rng.integers(1, 400))
    source = int(rng.integers(1, 4))
    ts = np.sort(rng.integers(1_600_000_000_000_000, 1_800_000_000_000_000, rows)).astype(np.uint64)
    present = rng.random(rows) < 0.3
    columns = {
        "port": rng.integers(0, 65536, rows).astype(np.uint16),
        "call_id": [f"{i}-{k}-{WORDS[k % len(WORDS)]}" for k in range(rows)],
        "addr": hyena.Sparse([(1 << 127) + k for k in range(int(present.sum()))],
                             np.flatnonzero(present)),
        "reason": [WORDS[k % len(WORDS)] if k % 3 == 0 else None for k in range(rows)],
        "code": [None if k % 2 else -k for k in range(rows)],
    }
    if i % 11 == 0:  # a block file that appears in a head partition long after it was created
        columns["rare"] = hyena.Sparse([-128, 127], [0, rows - 1]) if rows > 1 else [-5]
    if i >= LATE_AT:
        columns["late"] = [k if k % 5 == 0 else None for k in range(rows)]
    return source, ts, columns


def main() -> None:
    directory, first = sys.argv[1], int(sys.argv[2])
    db = hyena.open(directory, block_size=BLOCK_SIZE, pool_blocks=2)
    existing = {c.name for c in db.columns}
    for name, ctype in SCHEMA:
        if name not in existing:
            db.add_column(name, ctype)
    i = first
    while True:
        if i == LATE_AT and LATE_COLUMN[0] not in existing:
            db.add_column(*LATE_COLUMN)
            existing.add(LATE_COLUMN[0])
        source, ts, columns = batch(i)
        if i % 7 == 3:
            db.append(source, ts, columns, durable=True)
            print(f"ack {i}", flush=True)
        else:
            db.append(source, ts, columns)
            if i % 5 == 0:
                db.flush()
                print(f"ack {i}", flush=True)
        if i == first:
            print("ready", flush=True)  # in the append loop, numba kernels loaded
        i += 1


if __name__ == "__main__":
    main()
