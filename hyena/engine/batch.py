"""Turn what a user passes to `append` into a validated `Batch`, or raise InvalidDataError.

Everything is checked here, before a byte is written: lengths, column names, value types and
ranges, sparse row indexes, UTF-8. Accepted inputs per column: numpy arrays, pyarrow arrays,
Python lists (None marks a null in a sparse column), numpy masked arrays, and `Sparse(values,
index)` for sparse columns given as values plus row indexes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from hyena.errors import InvalidDataError
from hyena.kernels.validate import strictly_increasing_below, utf8_error_offset
from hyena.types import MAX_TIMESTAMP, SOURCE_COLUMN, TS_COLUMN, Column, ColumnType

__all__ = ["Sparse", "ColumnValues", "Batch", "make_batch", "to_int128", "from_int128"]

_MAX_SOURCE = (1 << 32) - 1


@dataclass(frozen=True, slots=True)
class Sparse:
    """Values of a sparse column for the rows listed in `index` (strictly increasing)."""

    values: Any
    index: Any


@dataclass(slots=True)
class ColumnValues:
    """Validated values of one column in a batch.

    Numeric: `values` has the column's stored dtype. Strings: `values` is the UTF-8 bytes
    (uint8) and `offsets` (int64, count + 1 entries) delimit each string in it. Sparse columns
    carry `index`: the batch row (uint32) of each value.
    """

    column: Column
    values: np.ndarray
    offsets: np.ndarray | None = None
    index: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.offsets) - 1 if self.offsets is not None else len(self.values)


@dataclass(slots=True)
class Batch:
    source: int
    ts: np.ndarray  # uint64 microseconds
    columns: list[ColumnValues]

    @property
    def rows(self) -> int:
        return len(self.ts)


def make_batch(source: int, ts: Any, columns: Mapping[Any, Any] | None,
               resolve: Any) -> Batch:
    """Validate an append. `resolve(key)` maps a column name or id to its `Column`."""
    if isinstance(source, bool) or not isinstance(source, (int, np.integer)) \
            or not 0 <= int(source) <= _MAX_SOURCE:
        raise InvalidDataError("source must be an integer in 0..2**32-1", source=source)
    ts_array = _timestamps(ts)
    rows = len(ts_array)
    if rows == 0:
        raise InvalidDataError("a batch needs at least one row (ts is empty)")
    if rows > 0xFFFFFFFF:
        raise InvalidDataError("a batch holds at most 2**32-1 rows", rows=rows)
    seen: dict[int, ColumnValues] = {}
    for key, data in (columns or {}).items():
        column: Column = resolve(key)
        if column.id in (TS_COLUMN, SOURCE_COLUMN):
            raise InvalidDataError("ts and source are given as arguments, not as columns",
                                   column=column.name)
        if column.id in seen:
            raise InvalidDataError("column given twice", column=column.name)
        seen[column.id] = _column_values(column, data, rows)
    return Batch(int(source), ts_array, [seen[c] for c in sorted(seen)])


# --- timestamps -------------------------------------------------------------------------------

def _timestamps(ts: Any) -> np.ndarray:
    if isinstance(ts, (pa.Array, pa.ChunkedArray)):
        if ts.null_count:
            raise InvalidDataError("ts cannot contain nulls")
        if pa.types.is_timestamp(ts.type):
            ts = ts.cast(pa.timestamp("us")).cast(pa.int64())
        ts = ts.to_numpy(zero_copy_only=False) if isinstance(ts, pa.Array) else \
            ts.combine_chunks().to_numpy(zero_copy_only=False)
    if isinstance(ts, np.ndarray) and ts.dtype.kind == "M":
        ts = ts.astype("datetime64[us]").view(np.int64)
    try:
        return _integers(ts, ColumnType.U64_DENSE, "ts", limit=MAX_TIMESTAMP)
    except InvalidDataError:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"ts must be integers (microseconds): {exc}") from exc


# --- one column -------------------------------------------------------------------------------

def _column_values(column: Column, data: Any, rows: int) -> ColumnValues:
    ctype = column.type
    if isinstance(data, Sparse):
        if not ctype.is_sparse:
            raise InvalidDataError("Sparse(...) given for a dense column", column=column.name)
        index = _sparse_index(column, data.index, rows)
        result = _dense_values(column, data.values)
        if result.count != len(index):
            raise InvalidDataError("sparse values and index differ in length",
                                   column=column.name, values=result.count, index=len(index))
        result.index = index
        return result
    present, values = _split_nulls(data)
    if present is None:  # no nulls
        result = _dense_values(column, values)
        if result.count != rows:
            raise InvalidDataError("column length differs from the number of rows",
                                   column=column.name, rows=rows, length=result.count)
        if ctype.is_sparse:
            result.index = np.arange(rows, dtype=np.uint32)
        return result
    if not ctype.is_sparse:
        raise InvalidDataError("dense column cannot hold nulls; declare it sparse",
                               column=column.name)
    if len(present) != rows:
        raise InvalidDataError("column length differs from the number of rows",
                               column=column.name, rows=rows, length=len(present))
    index = np.flatnonzero(present).astype(np.uint32)
    result = _dense_values(column, values)
    result.index = index
    return result


def _split_nulls(data: Any) -> tuple[np.ndarray | None, Any]:
    """(presence mask or None when nothing is null, the non-null values)."""
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks()
    if isinstance(data, pa.Array):
        if data.null_count == 0:
            return None, data
        return data.is_valid().to_numpy(zero_copy_only=False), data.drop_null()
    if isinstance(data, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(data)
        if not mask.any():
            return None, data.data
        return ~mask, data.compressed()
    if isinstance(data, np.ndarray):
        if data.dtype == object:
            data = data.tolist()
        else:
            return None, data
    if isinstance(data, (list, tuple)):
        if not any(v is None for v in data):
            return None, data
        present = np.fromiter((v is not None for v in data), dtype=bool, count=len(data))
        return present, [v for v in data if v is not None]
    if isinstance(data, (str, bytes)):
        raise InvalidDataError("column data must be a sequence of values, not a single string")
    return None, data


def _sparse_index(column: Column, index: Any, rows: int) -> np.ndarray:
    if isinstance(index, (pa.Array, pa.ChunkedArray)):
        index = np.asarray(index)
    array = np.asarray(index)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise InvalidDataError("sparse index must be a 1-D array of integers", column=column.name)
    bad = strictly_increasing_below(array.astype(np.int64, copy=False), rows) if array.size else -1
    if bad >= 0:
        raise InvalidDataError("sparse index must be strictly increasing and below the row count",
                               column=column.name, position=bad, value=int(array[bad]),
                               rows=rows)
    return array.astype(np.uint32)


def _dense_values(column: Column, data: Any) -> ColumnValues:
    ctype = column.type
    try:
        if ctype.is_string:
            data_bytes, offsets = _strings(data, column)
            return ColumnValues(column, data_bytes, offsets)
        if ctype.is_int128:
            return ColumnValues(column, to_int128(data, ctype.signed, column.name))
        return ColumnValues(column, _integers(data, ctype, column.name))
    except InvalidDataError:
        raise
    except (TypeError, ValueError, OverflowError, pa.ArrowException) as exc:
        raise InvalidDataError(f"values do not fit the column type: {exc}",
                               column=column.name, type=ctype.label) from exc


# --- integers ---------------------------------------------------------------------------------

def _is_int_type(t: type) -> bool:
    return (t is int or issubclass(t, (int, np.integer))) and not issubclass(t, (bool, np.bool_))


def _integers(data: Any, ctype: ColumnType, name: str, limit: int | None = None) -> np.ndarray:
    target = ctype.dtype
    low, high = ctype.int_range
    if limit is not None:
        high = limit
    if isinstance(data, (pa.Array, pa.ChunkedArray)):
        if not pa.types.is_integer(data.type):
            raise InvalidDataError("expected integers", column=name, found=str(data.type))
        data = np.asarray(data)
    if isinstance(data, np.ndarray):
        if data.ndim != 1:
            raise InvalidDataError("expected a 1-D array", column=name, shape=data.shape)
        if data.dtype == object:
            data = data.tolist()
        elif data.dtype.kind not in "iu":
            raise InvalidDataError("expected integers", column=name, found=str(data.dtype))
        else:
            if data.size and not (np.can_cast(data.dtype, target, "safe") and limit is None):
                lo, hi = int(data.min()), int(data.max())
                if lo < low or hi > high:
                    raise InvalidDataError("value out of range", column=name, type=ctype.label,
                                           min=lo, max=hi)
            return np.ascontiguousarray(data, dtype=target)
    if isinstance(data, (list, tuple, range)):
        if not all(_is_int_type(t) for t in set(map(type, data))):
            bad = next(v for v in data if not _is_int_type(type(v)))
            raise InvalidDataError("expected integers", column=name, found=repr(bad)[:40])
        try:
            array = np.array(data, dtype=target)
        except OverflowError as exc:
            raise InvalidDataError("value out of range", column=name, type=ctype.label,
                                   min=min(data), max=max(data)) from exc
        if limit is not None and array.size and int(array.max()) > limit:
            raise InvalidDataError("value out of range", column=name, max=int(array.max()),
                                   limit=limit)
        return array
    raise InvalidDataError("unsupported column data", column=name, found=type(data).__name__)


def to_int128(data: Any, signed: bool, name: str = "value") -> np.ndarray:
    """16-byte little-endian two's-complement integers (dtype V16) from ints, numpy or Arrow.

    Accepts Python ints, 1-D integer numpy arrays (widened), (n, 2) uint64 arrays of
    [low, high] words, V16 arrays and Arrow fixed_size_binary(16) arrays.
    """
    low, high = (-(1 << 127), (1 << 127) - 1) if signed else (0, (1 << 128) - 1)
    if isinstance(data, (pa.Array, pa.ChunkedArray)):
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        if pa.types.is_fixed_size_binary(data.type) and data.type.byte_width == 16:
            buf = data.buffers()[1]
            return np.frombuffer(buf, dtype="V16", count=len(data), offset=data.offset * 16).copy()
        if pa.types.is_integer(data.type):
            data = np.asarray(data)
        else:
            raise InvalidDataError("expected 128-bit integers", column=name, found=str(data.type))
    if isinstance(data, np.ndarray):
        if data.dtype == np.dtype("V16"):
            return np.ascontiguousarray(data)
        if data.ndim == 2 and data.shape[1] == 2 and data.dtype == np.uint64:
            return np.ascontiguousarray(data).view("V16").reshape(-1)
        if data.ndim == 1 and data.dtype.kind in "iu":
            if not signed and data.dtype.kind == "i" and data.size and data.min() < 0:
                raise InvalidDataError("value out of range", column=name, min=int(data.min()))
            words = np.zeros((len(data), 2), dtype=np.uint64)
            if data.dtype.kind == "i":
                wide = data.astype(np.int64)
                words[:, 0] = wide.view(np.uint64)
                words[wide < 0, 1] = np.uint64(0xFFFFFFFFFFFFFFFF)
            else:
                words[:, 0] = data.astype(np.uint64)
            return words.view("V16").reshape(-1)
        if data.dtype == object:
            data = data.tolist()
        else:
            raise InvalidDataError("expected 128-bit integers", column=name, found=str(data.dtype))
    if isinstance(data, (list, tuple, range)):
        out = bytearray(16 * len(data))
        for i, v in enumerate(data):
            if not _is_int_type(type(v)):
                raise InvalidDataError("expected integers", column=name, found=repr(v)[:40])
            v = int(v)
            if v < low or v > high:
                raise InvalidDataError("value out of range", column=name, value=v)
            out[16 * i:16 * i + 16] = (v & ((1 << 128) - 1)).to_bytes(16, "little")
        return np.frombuffer(bytes(out), dtype="V16")
    raise InvalidDataError("unsupported column data", column=name, found=type(data).__name__)


def from_int128(values: np.ndarray, signed: bool) -> list[int]:
    """Python ints from 16-byte little-endian values (the inverse of `to_int128`)."""
    raw = np.ascontiguousarray(values).tobytes()
    return [int.from_bytes(raw[i:i + 16], "little", signed=signed)
            for i in range(0, len(raw), 16)]


# --- strings ----------------------------------------------------------------------------------

def _strings(data: Any, column: Column) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes as uint8, int64 offsets with count + 1 entries)."""
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks()
    if isinstance(data, np.ndarray):
        data = data.tolist()
    if isinstance(data, (list, tuple)):
        if data and all(type(v) is bytes for v in data):
            data = pa.array(data, type=pa.large_binary())
        else:
            bad = next((v for v in data if not isinstance(v, str)), None)
            if bad is not None:
                raise InvalidDataError("expected strings", column=column.name,
                                       found=repr(bad)[:40])
            data = pa.array(data, type=pa.large_string())
    if not isinstance(data, pa.Array):
        raise InvalidDataError("unsupported column data", column=column.name,
                               found=type(data).__name__)
    if data.null_count:
        raise InvalidDataError("strings cannot be null here", column=column.name)
    typ = data.type
    if pa.types.is_string(typ) or pa.types.is_binary(typ):
        offset_dtype = np.int32
    elif pa.types.is_large_string(typ) or pa.types.is_large_binary(typ):
        offset_dtype = np.int64
    else:
        raise InvalidDataError("expected strings", column=column.name, found=str(typ))
    n = len(data)
    offsets_buf, data_buf = data.buffers()[1], data.buffers()[2]
    offsets = np.frombuffer(offsets_buf, dtype=offset_dtype, count=n + 1,
                            offset=data.offset * np.dtype(offset_dtype).itemsize).astype(np.int64)
    payload = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else \
        np.empty(0, np.uint8)
    if n:
        used = payload[offsets[0]:offsets[-1]]
        bad = utf8_error_offset(used)
        if bad >= 0:
            row = int(np.searchsorted(offsets, offsets[0] + bad, side="right")) - 1
            raise InvalidDataError("string is not valid UTF-8", column=column.name, value=row,
                                   byte=bad - int(offsets[row] - offsets[0]))
    return payload, offsets
