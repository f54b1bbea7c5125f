"""A plain-Python reference of what a database holds, and a reader that turns a real database
into the same shape, so tests can compare the two row by row."""
from __future__ import annotations

from typing import Any

import numpy as np

from hyena.engine.batch import from_int128
from hyena.engine.database import Database
from hyena.engine.reader import column_data
from hyena.types import SOURCE_COLUMN, TS_COLUMN

__all__ = ["read_rows", "decode_values"]

Row = dict[int, Any]


def decode_values(data: Any) -> list[Any]:
    """Python values (int / str) of a ColumnData, in stored order."""
    ctype = data.type
    if ctype.is_string:
        offsets = data.values.astype(np.int64)
        pool = bytes(data.pool)
        return [pool[offsets[i]:offsets[i + 1]].decode() for i in range(len(offsets) - 1)]
    if ctype.is_int128:
        return from_int128(data.values, ctype.signed)
    return [int(v) for v in data.values]


def read_rows(db: Database) -> dict[int, list[Row]]:
    """Every row of every source, oldest partition first: {source: [{column id: value}]}.
    Columns without a value in a row are left out of that row's dict (null)."""
    out: dict[int, list[Row]] = {}
    column_ids = [c.id for c in db.columns if c.id not in (SOURCE_COLUMN,)]
    for part in db.snapshot():
        rows: list[Row] = [{} for _ in range(part.rows)]
        for cid in column_ids:
            data = column_data(part, cid, db.maps)
            if data is None:
                continue
            values = decode_values(data)
            if data.index is None:
                if len(values) != part.rows:
                    raise AssertionError(f"dense column {cid} has {len(values)} values for "
                                         f"{part.rows} rows in {part.id}")
                for row, value in zip(rows, values):
                    row[cid] = value
            else:
                for position, value in zip(data.index.tolist(), values):
                    rows[position][cid] = value
        out.setdefault(part.source, []).extend(rows)
        assert all(TS_COLUMN in r for r in rows)
    return out
