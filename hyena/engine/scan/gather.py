"""Gather the projected columns of the selected rows of one partition.

A contiguous run of rows (an unfiltered partition, or its tail) is returned as views over the
mapped blocks, without copying: Arrow string arrays accept offsets that do not start at 0, so
even strings go out zero-copy. Selected rows are gathered by kernels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyena.engine.indexes import load_dictionary
from hyena.engine.partition import PartitionSnapshot
from hyena.engine.reader import ColumnData, column_data, prefetch_rows, ts_path
from hyena.kernels.dictionary import gather_coded
from hyena.kernels.gather import gather_strings, sparse_positions
from hyena.storage import format as fmt
from hyena.storage.mapcache import MapCache
from hyena.types import SOURCE_COLUMN, Column

__all__ = ["ColumnChunk", "gather_columns", "prefetch_gather", "sparse_value_positions"]


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
            continue
        if rows is not None and part.columns[column.id].dictionary:
            out.append(_coded_strings(part, column.id, data, rows, maps))
            continue
        if data.type.is_string:
            out.append(_strings(data, rows, start, stop))
        elif data.index is None:
            out.append(ColumnChunk(data.values[start:stop] if rows is None
                                   else data.values[rows], None, None))
        else:
            out.append(_sparse(data, rows, start, stop))
    return out


def prefetch_gather(part: PartitionSnapshot, columns: tuple[Column, ...], maps: MapCache,
                    rows: np.ndarray | None, column_ids: tuple[int, ...] | None = None) -> bool:
    """Ask for the pages gather_columns will read (see reader.prefetch_rows), so a scan can
    put them in flight before it gathers: from a cold page cache, faulting them in one by one
    waits for the disk once per page. True if anything was asked for (else the pages were
    asked for before: the gather need not wait for other partitions' requests)."""
    ids = column_ids if column_ids is not None else tuple(c.id for c in columns)
    if not maps.first_time(ts_path(part), ("gather", rows is None, ids)):
        return False  # asked by an earlier scan (only a map's first request is made anyway)
    asked = False
    for column in columns:
        if column.id == SOURCE_COLUMN:
            continue
        data = column_data(part, column.id, maps)
        if data is None:
            continue
        if rows is not None and part.columns[column.id].dictionary:
            path = f"{part.directory}/{fmt.dict_file(column.id)}"
            if maps.wants_prefetch(path) or path not in maps:
                load_dictionary(part.directory, column.id, maps)  # read through its codes
                asked = True
        else:
            asked |= prefetch_rows(part, column.id, data, rows, maps)
    return asked


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
    if rows is None:
        return _sparse_run(data, start, stop)
    positions = sparse_value_positions(data, rows, start, stop)
    valid = positions >= 0
    values = data.values[np.where(valid, positions, 0)] if len(data.values) else \
        np.zeros(len(positions), dtype=data.values.dtype)
    return ColumnChunk(values, None, valid)


def _sparse_run(data: ColumnData, start: int, stop: int) -> ColumnChunk:
    """Rows [start, stop) of a sparse numeric column: the index is sorted, so their values
    are one slice of the values, scattered to their rows (no per-row position lookup)."""
    index = data.index
    lo, hi = np.searchsorted(index, [start, stop])
    at = index[lo:hi].astype(np.intp) - start
    values = np.zeros(stop - start, dtype=data.values.dtype)
    values[at] = data.values[lo:hi]
    valid = np.zeros(stop - start, dtype=bool)
    valid[at] = True
    return ColumnChunk(values, None, valid)


def _strings(data: ColumnData, rows: np.ndarray | None, start: int, stop: int) -> ColumnChunk:
    if data.index is None:
        if rows is None:  # zero copy: the block's offsets are the Arrow offsets
            return ColumnChunk(data.pool, data.values[start:stop + 1].view(np.int32), None)
        offsets, pool = gather_strings(data.values, data.pool, rows.astype(np.int64, copy=False),
                                       np.int32)
        return ColumnChunk(pool, offsets, None)
    positions = sparse_value_positions(data, rows, start, stop)
    offsets, pool = gather_strings(data.values, data.pool, positions, np.int32)
    return ColumnChunk(pool, offsets, positions >= 0)


def _coded_strings(part: PartitionSnapshot, column_id: int, data: ColumnData, rows: np.ndarray,
                   maps: MapCache) -> ColumnChunk:
    """Selected rows of a column with a dictionary: their strings are copied from the
    dictionary's entries by code, reads that stay in cache (the pool would be read all over)."""
    dictionary = load_dictionary(part.directory, column_id, maps)
    if data.index is None:
        positions = rows.astype(np.int64, copy=False)
        valid = None
    else:
        positions = sparse_value_positions(data, rows, 0, 0)
        valid = positions >= 0
    offsets, pool = gather_coded(dictionary.codes, dictionary.offsets, dictionary.pool, positions)
    return ColumnChunk(pool, offsets, valid)
