"""Gather kernels: turn selected partition rows into output values (unsigned indexes: see
compare.py)."""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["sparse_positions", "gather_strings", "selected_rows"]


@kernel
def _selected_rows(mask: np.ndarray, words: np.ndarray, start: int, limit: int,
                   out: np.ndarray) -> int:
    n = np.uint64(mask.shape[0])
    found = np.uint64(0)
    limit = np.uint64(limit)
    start = np.int64(start)
    for w in range(np.uint64(words.shape[0])):
        if words[w] == 0:  # eight rows that all fail: one test
            continue
        base = w * np.uint64(8)
        # Every row's number is written, the count only moves past passing ones: no branch
        # per row. out has room: found <= base, so found + 8 <= n.
        for j in range(np.uint64(8)):
            out[found] = start + np.int64(base + j)
            found += np.uint64(mask[base + j] != 0)
        if found >= limit:
            return np.int64(limit)
    for i in range(np.uint64(words.shape[0]) * np.uint64(8), n):
        if mask[i] != 0:
            if found == limit:
                break
            out[found] = start + np.int64(i)
            found += np.uint64(1)
    return np.int64(found)


def selected_rows(mask: np.ndarray, start: int, limit: int, out: np.ndarray) -> int:
    """Write start + i for the first `limit` set entries of mask into out; return how many.
    `out` must have room for len(mask) entries (it is written past the count)."""
    words = mask[:len(mask) // 8 * 8].view(np.uint64)
    return int(_selected_rows(mask, words, start, limit, out))


@kernel
def sparse_positions(index: np.ndarray, rows: np.ndarray, out: np.ndarray) -> int:
    """For each selected row (ascending), the position of its value in a sparse column, or -1.
    Returns the number of rows that have a value. Both inputs are sorted: a merge, O(n + m)."""
    k = np.searchsorted(index, rows[0]) if rows.shape[0] else 0
    m = index.shape[0]
    found = 0
    for i in range(rows.shape[0]):
        r = rows[i]
        while k < m and index[k] < r:
            k += 1
        if k < m and index[k] == r:
            out[i] = k
            found += 1
        else:
            out[i] = -1
    return found


_U1 = np.uint64(1)


@kernel
def _string_lengths(offsets: np.ndarray, positions: np.ndarray, out_offsets: np.ndarray) -> int:
    total = np.uint64(0)
    out_offsets[0] = 0
    for i in range(np.uint64(positions.shape[0])):
        p = positions[i]
        if p >= 0:
            q = np.uint64(p)
            total += np.uint64(offsets[q + _U1]) - np.uint64(offsets[q])
        out_offsets[i + _U1] = total
    return total


@kernel
def _copy_strings(offsets: np.ndarray, pool: np.ndarray, positions: np.ndarray,
                  out_offsets: np.ndarray, out_pool: np.ndarray) -> None:
    for i in range(np.uint64(positions.shape[0])):
        p = positions[i]
        if p >= 0:
            q = np.uint64(p)
            a = np.uint64(offsets[q])
            n = np.uint64(offsets[q + _U1]) - a
            o = np.uint64(out_offsets[i])
            for j in range(n):
                out_pool[o + j] = pool[a + j]


@kernel
def _gather32(offsets: np.ndarray, pool: np.ndarray, positions: np.ndarray) -> tuple:
    out_offsets = np.empty(positions.shape[0] + 1, dtype=np.int32)
    total = _string_lengths(offsets, positions, out_offsets)
    out_pool = np.empty(total, dtype=np.uint8)
    _copy_strings(offsets, pool, positions, out_offsets, out_pool)
    return out_offsets, out_pool


def gather_strings(offsets: np.ndarray, pool: np.ndarray, positions: np.ndarray,
                   offset_dtype: type = np.int64) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of the strings at `positions` (-1: empty, for nulls). Scans ask for
    int32 offsets (Arrow's), which a partition's pool (< 2 GiB) always fits; they get them
    from one kernel call (a scan gathers strings per partition and column)."""
    if offset_dtype is np.int32:
        return _gather32(offsets, pool, positions)
    out_offsets = np.empty(len(positions) + 1, dtype=offset_dtype)
    total = _string_lengths(offsets, positions, out_offsets)
    out_pool = np.empty(total, dtype=np.uint8)
    _copy_strings(offsets, pool, positions, out_offsets, out_pool)
    return out_offsets, out_pool
