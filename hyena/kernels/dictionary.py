"""Dictionaries of low-cardinality string columns, built when a partition is sealed.

A column with at most 65535 distinct strings in a partition (SIP methods, user names, reason
phrases) gets a code per value (u8 or u16) and a table of its distinct strings. A filter is then
decided once per distinct string and looked up per row, and counting by value is a bincount.
"""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["MAX_ENTRIES", "build_dictionary", "lookup_dense", "lookup_sparse", "bincount_all",
           "bincount_rows",
           "group_strings"]

MAX_ENTRIES = 65535
_EMPTY = -1


@kernel
def _hash(pool: np.ndarray, a: int, b: int) -> np.uint64:
    h = np.uint64(0xCBF29CE484222325)
    for p in range(a, b):
        h = (h ^ np.uint64(pool[p])) * np.uint64(0x100000001B3)
    return h ^ (h >> np.uint64(29))


@kernel
def _same(pool: np.ndarray, a: int, b: int, c: int, d: int) -> bool:
    if b - a != d - c:
        return False
    for k in range(b - a):
        if pool[a + k] != pool[c + k]:
            return False
    return True


@kernel
def build_dictionary(offsets: np.ndarray, pool: np.ndarray) -> tuple:
    """(codes uint16 per string, first position of each distinct string) in order of first
    appearance; (empty, empty) when there are more than MAX_ENTRIES distinct strings."""
    n = offsets.shape[0] - 1
    size = 1 << 18  # power of two, > 2 * MAX_ENTRIES
    slots = np.full(size, _EMPTY, dtype=np.int32)
    firsts = np.empty(MAX_ENTRIES, dtype=np.int64)
    codes = np.empty(n, dtype=np.uint16)
    entries = 0
    for i in range(n):
        a = np.int64(offsets[i])
        b = np.int64(offsets[i + 1])
        slot = np.int64(_hash(pool, a, b) & np.uint64(size - 1))
        while True:
            e = slots[slot]
            if e == _EMPTY:
                if entries == MAX_ENTRIES or (i >= 8192 and entries > 4096):
                    # too many distinct strings (or clearly heading there): no dictionary
                    return np.empty(0, dtype=np.uint16), np.empty(0, dtype=np.int64)
                slots[slot] = entries
                firsts[entries] = i
                codes[i] = entries
                entries += 1
                break
            f = firsts[e]
            if _same(pool, a, b, np.int64(offsets[f]), np.int64(offsets[f + 1])):
                codes[i] = e
                break
            slot = (slot + 1) & (size - 1)
    return codes, firsts[:entries].copy()


@kernel
def lookup_dense(codes: np.ndarray, verdict: np.ndarray, mask: np.ndarray, mode: int,
                 start: int) -> None:
    """mask[i] (=|&=) verdict[codes[start + i]]: a filter decided per distinct string."""
    start = np.uint64(start)
    for i in range(np.uint64(mask.shape[0])):
        r = verdict[codes[start + i]]
        mask[i] = (mask[i] & r) if mode else r


@kernel
def lookup_sparse(codes: np.ndarray, index: np.ndarray, verdict: np.ndarray, mask: np.ndarray,
                  mode: int, start: int) -> None:
    n = np.uint64(mask.shape[0])
    start = np.uint64(start)
    prev = np.uint64(0)
    for k in range(np.uint64(np.searchsorted(index, start)),
                   np.uint64(np.searchsorted(index, start + n))):
        row = np.uint64(index[k]) - start
        for j in range(prev, row):
            mask[j] = 0
        r = verdict[codes[k]]
        mask[row] = (mask[row] & r) if mode else r
        prev = row + np.uint64(1)
    for j in range(prev, n):
        mask[j] = 0


@kernel
def bincount_all(codes: np.ndarray, entries: int) -> np.ndarray:
    """How many values have each code (no temporary copy of the codes, unlike np.bincount)."""
    counts = np.zeros(entries, dtype=np.int64)
    for i in range(np.uint64(codes.shape[0])):
        counts[np.uint64(codes[i])] += 1
    return counts


@kernel
def bincount_rows(codes: np.ndarray, rows: np.ndarray, entries: int) -> np.ndarray:
    """How many of the selected values (positions `rows` into codes) have each code."""
    counts = np.zeros(entries, dtype=np.int64)
    for i in range(np.uint64(rows.shape[0])):
        counts[np.uint64(codes[np.uint64(rows[i])])] += 1
    return counts


@kernel
def group_strings(offsets: np.ndarray, pool: np.ndarray, positions: np.ndarray) -> tuple:
    """Count the distinct strings among those at `positions`: (first position of each distinct
    string, how many times it occurs). For columns without a dictionary."""
    n = positions.shape[0]
    size = 16
    while size < 2 * n:
        size *= 2
    slots = np.full(size, _EMPTY, dtype=np.int64)
    firsts = np.empty(n, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    entries = 0
    for i in range(n):
        q = positions[i]
        a = np.int64(offsets[q])
        b = np.int64(offsets[q + 1])
        slot = np.int64(_hash(pool, a, b) & np.uint64(size - 1))
        while True:
            e = slots[slot]
            if e == _EMPTY:
                slots[slot] = entries
                firsts[entries] = q
                counts[entries] = 1
                entries += 1
                break
            f = firsts[e]
            if _same(pool, a, b, np.int64(offsets[f]), np.int64(offsets[f + 1])):
                counts[e] += 1
                break
            slot = (slot + 1) & (size - 1)
    return firsts[:entries].copy(), counts[:entries].copy()
