"""Read a partition's columns as numpy views over mapped block files.

This is the one place that knows how each block kind is laid out for reading; scans gather
from these views and tests compare them with a reference model. Scans call column_data for
every column of every partition they touch, so it avoids pathlib and enum properties (each
costs about a microsecond, as much as the rest of the call).
"""
from __future__ import annotations

import functools
import mmap
from typing import NamedTuple

import numpy as np

from hyena.engine.partition import ColumnSnapshot, PartitionSnapshot
from hyena.storage import format as fmt
from hyena.storage.mapcache import MapCache
from hyena.types import ColumnType

__all__ = ["ColumnData", "column_data", "scan_column", "prefetch_column", "prefetch_rows",
           "ts_path", "DENSE_GATHER"]


class ColumnData(NamedTuple):
    """One column of one partition.

    values: the stored values (dtype of the type; for strings the u32 offsets, count + 1 of
    them, string i being pool[values[i]:values[i+1]]); index: the partition row of each value
    (sparse only); pool: the string bytes (strings only).
    """

    type: ColumnType
    values: np.ndarray
    index: np.ndarray | None = None
    pool: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.values) - 1 if self.type.is_string else len(self.values)


# Per type: (is a string, is sparse, dtype of the values block).
_LAYOUT = {t: (t.is_string, t.is_sparse, np.uint32 if t.is_string else t.dtype)
           for t in ColumnType}


@functools.lru_cache(maxsize=1 << 16)
def _paths(directory: str, column_id: int) -> tuple[str, str, str]:
    """(values, pool, index) file paths of a column in a partition directory."""
    return (f"{directory}/{fmt.block_file(column_id)}", f"{directory}/{fmt.pool_file(column_id)}",
            f"{directory}/{fmt.index_file(column_id)}")


def ts_path(part: PartitionSnapshot) -> str:
    """The partition's timestamp block: every partition has one (scans hang per-partition
    memos on its map)."""
    return _paths(str(part.directory), 0)[0]


def column_data(part: PartitionSnapshot, column_id: int, maps: MapCache) -> ColumnData | None:
    """The column's data in this partition, or None if the partition has no values for it.
    A sealed partition's is built once and kept with the map of its values file."""
    col = part.columns.get(column_id)
    if col is None or col.count == 0:
        return None
    paths = _paths(str(part.directory), column_id)
    if part.sealed:
        return maps.memo(paths[0], "column", lambda: _read(col, paths, maps))
    return _read(col, paths, maps)


def _read(col: ColumnSnapshot, paths: tuple[str, str, str], maps: MapCache) -> ColumnData:
    ctype = col.type
    is_string, is_sparse, dtype = _LAYOUT[ctype]
    values_path, pool_path, index_path = paths
    if is_string:
        values = maps.view(values_path, dtype, col.count + 1)
        pool = maps.view(pool_path, np.uint8, col.pool_len)
    else:
        values = maps.view(values_path, dtype, col.count)
        pool = None
    index = maps.view(index_path, np.uint32, col.count) if is_sparse else None
    return ColumnData(ctype, values, index, pool)


DENSE_GATHER = 64  # selecting 1 row in 64 or more touches nearly every page of a column


def scan_column(part: PartitionSnapshot, column_id: int, maps: MapCache) -> ColumnData | None:
    """column_data for a scan that reads the whole column (filters, counts): with read-ahead."""
    data = column_data(part, column_id, maps)
    if data is not None:
        prefetch_column(part, column_id, maps)
    return data


def prefetch_column(part: PartitionSnapshot, column_id: int, maps: MapCache) -> bool:
    """Read-ahead of a column's files in a partition that a scan is about to read whole (a
    filter, a count); after column_data, which maps them. See MapCache.prefetch. True if
    anything was asked for (False: asked before, most likely warm)."""
    col = part.columns.get(column_id)
    if col is None or col.count == 0:
        return False
    is_string, is_sparse, _ = _LAYOUT[col.type]
    values_path, pool_path, index_path = _paths(str(part.directory), column_id)
    asked = maps.prefetch(values_path)
    if is_string:
        asked |= maps.prefetch(pool_path)
    if is_sparse:
        asked |= maps.prefetch(index_path)
    return asked


def prefetch_rows(part: PartitionSnapshot, column_id: int, data: ColumnData,
                  rows: np.ndarray | None, maps: MapCache) -> bool:
    """Read-ahead for gathering `rows` (None: a run of rows handed out whole) of a column:
    whole files when the rows are dense enough to touch every page anyway, else just the
    pages that hold them (string bytes: once their offsets are in). True if asked."""
    if rows is None or len(rows) * DENSE_GATHER >= part.rows or data.index is not None:
        return prefetch_column(part, column_id, maps)
    values_path, pool_path, _ = _paths(str(part.directory), column_id)
    if not maps.wants_prefetch(values_path):
        return False  # asked before (warm, most likely): skip working out the pages
    width = data.values.itemsize
    first = fmt.FILE_HEADER_SIZE + rows * width
    if data.pool is None:
        return maps.prefetch(values_path, np.unique(first // mmap.PAGESIZE))
    ends = first + width  # each row's following offset: where its string ends
    maps.prefetch(values_path, np.unique(np.concatenate((first, ends)) // mmap.PAGESIZE))
    begins = data.values[rows].astype(np.int64)  # waits for those offset pages, all at once
    lengths = data.values[rows + 1].astype(np.int64) - begins
    begins = begins[lengths > 0] + fmt.FILE_HEADER_SIZE
    last = begins + lengths[lengths > 0] - 1
    pages = [begins // mmap.PAGESIZE, last // mmap.PAGESIZE]
    spanning = np.flatnonzero(last // mmap.PAGESIZE - begins // mmap.PAGESIZE > 1)
    pages += [np.arange(begins[k] // mmap.PAGESIZE, last[k] // mmap.PAGESIZE)
              for k in spanning.tolist()]  # strings over more than two pages (rare)
    maps.prefetch(pool_path, np.unique(np.concatenate(pages)))
    return True
