"""A scan's rows as chunks per partition, turned into Arrow (zero copy) or numpy on request.

Arrow representation: integers as Arrow integers of the same width and sign; 128-bit integers
as `binary(16)` holding the 16-byte little-endian two's-complement value (lossless; the field
metadata `hyena.type` says `i128` or `u128`, and `hyena.int128_to_pylist` turns them into
ints); strings as `string`. Columns that are sparse, or that lack values in some partition,
are nullable.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from hyena.engine.batch import from_int128
from hyena.engine.scan.gather import ColumnChunk
from hyena.types import Column, ColumnType

__all__ = ["ScanResult", "arrow_type", "int128_to_pylist"]


def arrow_type(ctype: ColumnType) -> pa.DataType:
    if ctype.is_string:
        return pa.string()
    if ctype.is_int128:
        return pa.binary(16)
    return pa.from_numpy_dtype(ctype.dtype)


@dataclass
class ScanResult:
    """Rows of a scan in order: sources ascending, partitions oldest first, rows as appended."""

    columns: tuple[Column, ...]
    chunks: list[list[ColumnChunk]] = field(default_factory=list)  # per partition, per column
    state: int | None = None  # where a resumable scan continues (None: at the end)
    # per entry of chunks: its arrays are gathered copies (not views of the mapped files),
    # which to_arrow may join with their neighbours
    copied: list[bool] = field(default_factory=list)

    def add(self, chunks: list[ColumnChunk], copied: bool) -> None:
        self.chunks.append(chunks)
        self.copied.append(copied)

    @property
    def rows(self) -> int:
        return sum(len(c[0]) for c in self.chunks) if self.chunks and self.columns else 0

    def to_arrow(self) -> pa.Table:
        arrays, fields = [], []
        runs = self._runs()
        for i, column in enumerate(self.columns):
            typ = arrow_type(column.type)
            parts = [_arrow(_join([self.chunks[k][i] for k in run]), typ) for run in runs]
            nullable = column.type.is_sparse or any(p.null_count for p in parts)
            meta = {b"hyena.type": column.type.base.encode()} if column.type.is_int128 else None
            fields.append(pa.field(column.name, typ, nullable=nullable, metadata=meta))
            arrays.append(pa.chunked_array(parts, typ))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def to_numpy(self) -> dict[str, Any]:
        """Per column: a numpy array (integers; 128-bit as an (n, 2) uint64 [low, high] array;
        strings as an object array of str), masked where values are null."""
        out: dict[str, Any] = {}
        for i, column in enumerate(self.columns):
            chunks = [c[i] for c in self.chunks]
            if column.type.is_string:
                values = np.array(_texts(chunks), dtype=object)
            elif chunks:
                values = np.concatenate([c.values for c in chunks])
            else:
                values = np.empty(0, dtype=column.type.dtype)
            if column.type.is_int128:
                values = values.view(np.uint64).reshape(-1, 2)
            valid = _validity(chunks)
            if valid is not None:
                mask = ~valid if values.ndim == 1 else np.repeat(~valid[:, None], 2, axis=1)
                values = np.ma.MaskedArray(values, mask=mask)
            out[column.name] = values
        return out


    def _runs(self) -> list[list[int]]:
        """Which entries of chunks become one Arrow chunk: consecutive small copied ones are
        joined (a selective scan gathers a few rows from each of many partitions, and an Arrow
        array per partition and column costs more than the copy), the rest stay apart (views
        of the mapped files are handed out as they are)."""
        runs: list[list[int]] = []
        rows = size = 0  # of the last run
        joinable = False
        for k, chunks in enumerate(self.chunks):
            n = len(chunks[0]) if chunks else 0
            nbytes = max((c.values.nbytes for c in chunks), default=0)
            small = k < len(self.copied) and self.copied[k] and n < _JOIN_ROWS
            if small and joinable and rows + n <= _JOIN_ROWS and size + nbytes <= _JOIN_BYTES:
                runs[-1].append(k)
                rows, size = rows + n, size + nbytes
            else:
                runs.append([k])
                rows, size = n, nbytes
            joinable = small
        return runs


_JOIN_ROWS = 1 << 16
_JOIN_BYTES = 1 << 28  # well inside Arrow's int32 string offsets


def _join(chunks: list[ColumnChunk]) -> ColumnChunk:
    """One chunk holding these chunks' rows in order."""
    if len(chunks) == 1:
        return chunks[0]
    valid = None
    if any(c.valid is not None for c in chunks):
        valid = np.concatenate([c.valid if c.valid is not None else np.ones(len(c), bool)
                                for c in chunks])
    if chunks[0].offsets is None:
        return ColumnChunk(np.concatenate([c.values for c in chunks]), None, valid)
    pools, offsets, base = [], [np.zeros(1, np.int32)], 0
    for c in chunks:
        first, last = int(c.offsets[0]), int(c.offsets[-1])
        pools.append(c.values[first:last])
        offsets.append(c.offsets[1:] - np.int32(first - base))
        base += last - first
    return ColumnChunk(np.concatenate(pools), np.concatenate(offsets), valid)


def _arrow(chunk: ColumnChunk, typ: pa.DataType) -> pa.Array:
    n = len(chunk)
    validity = None
    if chunk.valid is not None and not chunk.valid.all():
        validity = pa.py_buffer(np.packbits(chunk.valid, bitorder="little"))
    if chunk.offsets is not None:
        buffers = [validity, pa.py_buffer(chunk.offsets), pa.py_buffer(chunk.values)]
    else:
        buffers = [validity, pa.py_buffer(np.ascontiguousarray(chunk.values))]
    return pa.Array.from_buffers(typ, n, buffers)


def _texts(chunks: list[ColumnChunk]) -> list[str | None]:
    out: list[str | None] = []
    for chunk in chunks:
        pool = chunk.values.tobytes()
        offsets = chunk.offsets.tolist()
        valid = chunk.valid
        for k in range(len(offsets) - 1):
            if valid is not None and not valid[k]:
                out.append(None)
            else:
                out.append(pool[offsets[k]:offsets[k + 1]].decode())
    return out


def _validity(chunks: list[ColumnChunk]) -> np.ndarray | None:
    if all(c.valid is None for c in chunks):
        return None
    return np.concatenate([c.valid if c.valid is not None else np.ones(len(c), bool)
                           for c in chunks]) if chunks else None


def int128_to_pylist(array: pa.Array | pa.ChunkedArray, signed: bool) -> list[int | None]:
    """Python ints (None for nulls) from an Arrow binary(16) column of a hyena scan."""
    if isinstance(array, pa.ChunkedArray):
        return [v for chunk in array.chunks for v in int128_to_pylist(chunk, signed)]
    raw = np.frombuffer(array.buffers()[1], dtype="V16", count=len(array), offset=array.offset * 16) \
        if len(array) else np.empty(0, "V16")
    values: list[int | None] = list(from_int128(raw, signed))
    if array.null_count:
        valid = array.is_valid().to_numpy(zero_copy_only=False)
        values = [v if ok else None for v, ok in zip(values, valid)]
    return values
