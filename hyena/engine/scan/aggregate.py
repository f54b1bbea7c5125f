"""Counting rows by the value of one column, per partition, merged across partitions.

Strings with a partition dictionary are counted by code (a bincount); other strings by a hash
kernel; integers with numpy. Nulls (rows without a value) count under None.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from hyena.engine.indexes import Dictionary, load_dictionary
from hyena.engine.partition import PartitionSnapshot
from hyena.engine.reader import column_data
from hyena.engine.scan.gather import sparse_value_positions
from hyena.kernels.dictionary import bincount_all, bincount_rows, group_strings
from hyena.storage.mapcache import MapCache
from hyena.types import SOURCE_COLUMN, Column

__all__ = ["count_values"]


def count_values(part: PartitionSnapshot, column: Column, rows: np.ndarray | None,
                 maps: MapCache) -> Counter:
    """How many of the selected rows (None: all) hold each value of `column`."""
    selected = part.rows if rows is None else len(rows)
    out: Counter = Counter()
    if selected == 0:
        return out
    if column.id == SOURCE_COLUMN:
        out[part.source] = selected
        return out
    data = column_data(part, column.id, maps)
    if data is None:
        out[None] = selected
        return out
    if data.type.is_string and data.index is None and rows is None \
            and part.columns[column.id].dictionary:
        dictionary = load_dictionary(part.directory, column.id, maps)
        counts = bincount_all(dictionary.codes, dictionary.entries)
        return _entry_counts(out, dictionary, counts)
    if data.index is None:
        positions = np.arange(part.rows, dtype=np.int64) if rows is None else rows
    else:
        positions = sparse_value_positions(data, rows, 0, part.rows)
        present = positions >= 0
        if not present.all():
            out[None] = int(selected - present.sum())
            positions = positions[present]
    if len(positions) == 0:
        return out
    if data.type.is_string:
        if part.columns[column.id].dictionary:
            dictionary = load_dictionary(part.directory, column.id, maps)
            counts = bincount_rows(dictionary.codes, positions, dictionary.entries)
            return _entry_counts(out, dictionary, counts)
        firsts, counts = group_strings(data.values, data.pool, positions)
        offsets, pool = data.values, data.pool
        for f, c in zip(firsts.tolist(), counts.tolist()):
            out[bytes(pool[offsets[f]:offsets[f + 1]]).decode()] += c
        return out
    values = data.values[positions]
    if data.type.is_int128:
        raw = values.tobytes()
        for i in range(0, len(raw), 16):
            out[int.from_bytes(raw[i:i + 16], "little", signed=data.type.signed)] += 1
        return out
    keys, counts = np.unique(values, return_counts=True)
    for k, c in zip(keys.tolist(), counts.tolist()):
        out[k] += c
    return out


def _entry_counts(out: Counter, dictionary: Dictionary, counts: np.ndarray) -> Counter:
    offsets, pool = dictionary.offsets, dictionary.pool
    for e in np.flatnonzero(counts).tolist():
        out[bytes(pool[offsets[e]:offsets[e + 1]]).decode()] += int(counts[e])
    return out
