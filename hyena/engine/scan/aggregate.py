"""Counting rows by the value of one column, per partition, merged across partitions.

Strings with a partition dictionary are counted by code (a bincount); other strings by a hash
kernel; integers with numpy. Nulls (rows without a value) count under None.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from hyena.engine.indexes import dictionary_texts, load_dictionary
from hyena.engine.partition import PartitionSnapshot
from hyena.engine.reader import scan_column
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
    col = part.columns.get(column.id)
    if col is None or col.count == 0:
        out[None] = selected
        return out
    if rows is None and col.dictionary and not col.type.is_sparse:
        dictionary = load_dictionary(part.directory, column.id, maps)
        counts = bincount_all(dictionary.codes, dictionary.entries)
        return _entry_counts(out, part, column.id, counts, maps)
    data = scan_column(part, column.id, maps)
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
        if col.dictionary:
            dictionary = load_dictionary(part.directory, column.id, maps)
            counts = bincount_rows(dictionary.codes, positions, dictionary.entries)
            return _entry_counts(out, part, column.id, counts, maps)
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


def _entry_counts(out: Counter, part: PartitionSnapshot, column_id: int, counts: np.ndarray,
                  maps: MapCache) -> Counter:
    texts = dictionary_texts(part.directory, column_id, maps)
    out.update({texts[e]: c for e, c in enumerate(counts.tolist()) if c})
    return out
