"""Read a partition's columns as numpy views over mapped block files.

This is the one place that knows how each block kind is laid out for reading; scans gather
from these views and tests compare them with a reference model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyena.engine.partition import PartitionSnapshot
from hyena.storage import format as fmt
from hyena.storage.mapcache import MapCache
from hyena.types import ColumnType

__all__ = ["ColumnData", "column_data"]


@dataclass(frozen=True, slots=True)
class ColumnData:
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


def column_data(part: PartitionSnapshot, column_id: int, maps: MapCache) -> ColumnData | None:
    """The column's data in this partition, or None if the partition has no values for it."""
    col = part.columns.get(column_id)
    if col is None or col.count == 0:
        return None
    ctype = col.type
    if ctype.is_string:
        values = maps.view(part.path(fmt.block_file(column_id)), np.uint32, col.count + 1)
        pool = maps.view(part.path(fmt.pool_file(column_id)), np.uint8, col.pool_len)
    else:
        values = maps.view(part.path(fmt.block_file(column_id)), ctype.dtype, col.count)
        pool = None
    index = maps.view(part.path(fmt.index_file(column_id)), np.uint32, col.count) \
        if ctype.is_sparse else None
    return ColumnData(ctype, values, index, pool)
