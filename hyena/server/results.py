"""A scan's Arrow table -> the wire's ScanResult (one DataTriple per projected column).

Sparse columns go out as sparse fragments whose row indexes count from the start of the
whole result. A dense column that has no value in some rows (rows appended before it existed)
goes out in the sparse variant of its type; a column without any value in the result as None.
Without extensions, a nullable string column is a StringDense column with empty strings for
its nulls (the only string type original clients know).

Fragments are views of the Arrow buffers (the engine's result points into the mapped blocks),
so the only copy of the data is the one into the reply message: no concatenation of a
single-chunk column, no cast of string offsets, validity read from the bitmap.
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
        chunked = table.column(name)
        array = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
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
    valid = _validity(array)
    index = np.flatnonzero(valid).astype(np.uint32)
    if typ.is_string:  # compacting strings: Arrow does it
        values, offsets = _values(array.filter(pa.array(valid)), sparse)
    else:
        values = _values(array, sparse)[0][valid]
        offsets = None
    return m.Fragment(sparse, values, index, offsets)


def _validity(array: pa.Array) -> np.ndarray:
    """Bool per row: has a value."""
    bitmap = array.buffers()[0]
    if bitmap is None or array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[array.offset:array.offset + len(array)].view(bool)


def _values(array: pa.Array, typ: ColumnType) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, offsets) in the Fragment layout of `typ`, as views of the Arrow buffers
    (string offsets as Arrow has them, 32 or 64 bits; null slots hold whatever is there)."""
    n = len(array)
    buffers = array.buffers()
    if typ.is_string:
        width = 8 if pa.types.is_large_string(array.type) or \
            pa.types.is_large_binary(array.type) else 4
        offsets = np.frombuffer(buffers[1], dtype=np.int64 if width == 8 else np.int32,
                                count=n + 1, offset=array.offset * width)
        pool = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else \
            np.empty(0, np.uint8)
        return pool, offsets
    dtype = np.dtype("V16") if typ.is_int128 else typ.dtype
    if n == 0 or buffers[1] is None:
        return np.empty(0, dtype=dtype), None
    return np.frombuffer(buffers[1], dtype=dtype, count=n,
                         offset=array.offset * dtype.itemsize), None
