"""A scan's Arrow table -> the wire's ScanResult (one DataTriple per projected column).

Sparse columns go out as sparse fragments whose row indexes count from the start of the
whole result. A dense column that has no value in some rows (rows appended before it existed)
goes out in the sparse variant of its type; a column without any value in the result as None.
Without extensions, a nullable string column is a StringDense column with empty strings for
its nulls (the only string type original clients know).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hyena.protocol import messages as m
from hyena.types import Column, ColumnType

__all__ = ["scan_result", "wire_type"]


def wire_type(ctype: ColumnType, extensions: bool) -> ColumnType:
    if ctype == ColumnType.STRING_SPARSE and not extensions:
        return ColumnType.STRING_DENSE
    return ctype


def scan_result(table: pa.Table, projection: list[Column], state: int | None,
                extensions: bool) -> m.ScanResult:
    if table.num_rows == 0:
        return m.ScanResult((), state)
    triples = []
    for column, name in zip(projection, table.column_names):
        typ = wire_type(column.type, extensions)
        array = table.column(name).combine_chunks()
        triples.append(m.DataTriple(column.id, typ, _fragment(array, typ)))
    return m.ScanResult(tuple(triples), state)


def _fragment(array: pa.Array, typ: ColumnType) -> m.Fragment | None:
    nulls = array.null_count
    if nulls == len(array) and not typ.is_sparse:
        return None
    if typ.is_string and not typ.is_sparse and nulls:
        array = array.fill_null("")
        nulls = 0
    if not typ.is_sparse and not nulls:
        values, offsets = _values(array, typ)
        return m.Fragment(typ, values, None, offsets)
    sparse = typ.sparse
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    index = np.flatnonzero(valid).astype(np.uint32)
    values, offsets = _values(pc.filter(array, pa.array(valid)), sparse)
    return m.Fragment(sparse, values, index, offsets)


def _values(array: pa.Array, typ: ColumnType) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, offsets) in the Fragment layout of `typ`."""
    n = len(array)
    if typ.is_string:
        array = array.cast(pa.large_string())
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int64, count=n + 1,
                                offset=array.offset * 8)
        data = array.buffers()[2]
        pool = np.frombuffer(data, dtype=np.uint8) if data is not None else \
            np.empty(0, np.uint8)
        return pool, offsets
    if typ.is_int128:
        if n == 0:
            return np.empty(0, dtype="V16"), None
        return np.frombuffer(array.buffers()[1], dtype="V16", count=n,
                             offset=array.offset * 16), None
    return array.to_numpy(zero_copy_only=False).astype(typ.dtype, copy=False), None
