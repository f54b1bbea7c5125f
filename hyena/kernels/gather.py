"""Gather kernels: turn selected partition rows into output values (unsigned indexes: see
compare.py)."""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["sparse_positions", "gather_strings", "selected_rows"]


@kernel
def selected_rows(mask: np.ndarray, start: int, limit: int, out: np.ndarray) -> int:
    """Write start + i for the first `limit` set entries of mask into out; return how many."""
    n = 0
    for i in range(np.uint64(mask.shape[0])):
        if mask[i]:
            if n == limit:
                break
            out[n] = start + np.int64(i)
            n += 1
    return n


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


def gather_strings(offsets: np.ndarray, pool: np.ndarray,
                   positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int64 offsets, bytes) of the strings at `positions` (-1: empty, for nulls)."""
    out_offsets = np.empty(len(positions) + 1, dtype=np.int64)
    total = _string_lengths(offsets, positions, out_offsets)
    out_pool = np.empty(total, dtype=np.uint8)
    _copy_strings(offsets, pool, positions, out_offsets, out_pool)
    return out_offsets, out_pool
