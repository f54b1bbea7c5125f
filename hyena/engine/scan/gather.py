"""Gather the projected columns of the selected rows of one partition.

A contiguous run of rows (an unfiltered partition, or its tail) is returned as views over the
mapped blocks, without copying: Arrow string arrays accept offsets that do not start at 0, so
even strings go out zero-copy. Selected rows are gathered by kernels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyena.engine.partition import PartitionSnapshot
from hyena.engine.reader import ColumnData, column_data
from hyena.kernels.gather import gather_strings, sparse_positions
from hyena.storage.mapcache import MapCache
from hyena.types import SOURCE_COLUMN, Column

__all__ = ["ColumnChunk", "gather_columns", "sparse_value_positions"]


@dataclass(frozen=True, slots=True)
class ColumnChunk:
    """One column of one partition's result: `values` (numeric) or `offsets` (int32, rows + 1)
    and `values` (uint8 bytes) for strings; `valid` marks non-null rows (None: all valid)."""

    values: np.ndarray
    offsets: np.ndarray | None
    valid: np.ndarray | None

    def __len__(self) -> int:
        return len(self.offsets) - 1 if self.offsets is not None else len(self.values)


def gather_columns(part: PartitionSnapshot, columns: tuple[Column, ...], maps: MapCache,
                   rows: np.ndarray | None, start: int, stop: int) -> list[ColumnChunk]:
    """Chunks for the rows `rows` (ascending partition rows) or, when None, rows [start, stop)."""
    n = stop - start if rows is None else len(rows)
    out = []
    for column in columns:
        if column.id == SOURCE_COLUMN:
            out.append(ColumnChunk(np.full(n, part.source, dtype=np.uint32), None, None))
            continue
        data = column_data(part, column.id, maps)
        if data is None:
            out.append(_nulls(column, n))
        elif data.type.is_string:
            out.append(_strings(data, rows, start, stop))
        elif data.index is None:
            out.append(ColumnChunk(data.values[start:stop] if rows is None
                                   else data.values[rows], None, None))
        else:
            out.append(_sparse(data, rows, start, stop))
    return out


def _nulls(column: Column, n: int) -> ColumnChunk:
    valid = np.zeros(n, dtype=bool)
    if column.type.is_string:
        return ColumnChunk(np.empty(0, np.uint8), np.zeros(n + 1, np.int32), valid)
    return ColumnChunk(np.zeros(n, dtype=column.type.dtype), None, valid)


def sparse_value_positions(data: ColumnData, rows: np.ndarray | None, start: int,
               stop: int) -> np.ndarray:
    """Position of each selected row's value in a sparse column (-1: null)."""
    if rows is None:
        rows = np.arange(start, stop, dtype=np.int64)
    positions = np.empty(len(rows), dtype=np.int64)
    sparse_positions(data.index, rows, positions)
    return positions


def _sparse(data: ColumnData, rows: np.ndarray | None, start: int, stop: int) -> ColumnChunk:
    positions = sparse_value_positions(data, rows, start, stop)
    valid = positions >= 0
    values = data.values[np.where(valid, positions, 0)] if len(data.values) else \
        np.zeros(len(positions), dtype=data.values.dtype)
    return ColumnChunk(values, None, valid)


def _strings(data: ColumnData, rows: np.ndarray | None, start: int, stop: int) -> ColumnChunk:
    if data.index is None:
        if rows is None:  # zero copy: the block's offsets are the Arrow offsets
            return ColumnChunk(data.pool, data.values[start:stop + 1].view(np.int32), None)
        offsets, pool = gather_strings(data.values, data.pool, rows.astype(np.int64, copy=False))
        return ColumnChunk(pool, offsets.astype(np.int32), None)
    positions = sparse_value_positions(data, rows, start, stop)
    offsets, pool = gather_strings(data.values, data.pool, positions)
    return ColumnChunk(pool, offsets.astype(np.int32), positions >= 0)
