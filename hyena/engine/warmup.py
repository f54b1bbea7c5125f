"""Pay the numba compile (or cache load) cost up front instead of in the first real request.

Kernels compile on first use for each type signature; with the on-disk cache a new process
loads them instead, which still takes a moment per kernel. `warm_up()` appends a few rows of
every column type to a throwaway database and scans them with every operator, so a server
calling it at start answers its first request at full speed.
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from hyena.types import ColumnType

__all__ = ["warm_up"]

_OPS = ["<", "<=", "==", ">=", ">", "!=", "in"]
_STRING_OPS = _OPS + ["starts_with", "ends_with", "contains", "matches"]


def warm_up() -> float:
    """Compile or load every kernel a scan or append may use; returns the seconds it took."""
    from hyena.engine.database import Database  # late: the engine imports this module's users
    from hyena.engine.config import Config

    began = time.perf_counter()
    ram = "/dev/shm" if os.path.isdir("/dev/shm") else None  # no fsync cost there
    with tempfile.TemporaryDirectory(prefix="hyena-warmup-", dir=ram) as tmp:
        db = Database(tmp, Config(block_size=4096, drop_sealed_pages=False))
        try:
            names = []
            for ctype in ColumnType:
                names.append(ctype.label)
                db.add_column(ctype.label, ctype)
            rows = 700  # more than one partition, so sealed-partition paths run too
            data = {}
            for ctype, name in zip(ColumnType, names):
                if ctype.is_string:
                    values = [("INVITE", "BYE", "x" * 9)[i % 3] for i in range(rows)]
                else:
                    values = [i % 100 for i in range(rows)]
                data[name] = [v if i % 2 else None for i, v in enumerate(values)] \
                    if ctype.is_sparse else values
            ts = np.arange(rows, dtype=np.uint64)
            db.append(1, ts, data)
            db.add_column_index("string")
            db.append(1, ts, data)
            db.flush()
            for ctype, name in zip(ColumnType, names):
                ops = _STRING_OPS if ctype.is_string else _OPS
                for op in ops:
                    value = {"in": ["BYE"] if ctype.is_string else [1, 2],
                             "matches": "^B"}.get(op, "BYE" if ctype.is_string else 5)
                    for group in ([(name, op, value)], [("ts", ">", 3), (name, op, value)]):
                        db.scan(filters=group, min_ts=1, max_ts=rows * 2)
                        db.count(filters=group)
                db.count(by=name)
            list(db.scan_iter(row_limit=100))
        finally:
            db.close()
    return time.perf_counter() - began
