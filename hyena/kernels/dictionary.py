"""Dictionaries of low-cardinality string columns, built when a partition is sealed.

A column with at most 65535 distinct strings in a partition (SIP methods, user names, reason
phrases) gets a code per value (u8 or u16) and a table of its distinct strings. A filter is then
decided once per distinct string and looked up per row, and counting by value is a bincount.
"""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["MAX_ENTRIES", "build_dictionary", "lookup_dense", "lookup_sparse", "lookup_select",
           "bincount_all", "bincount_rows", "group_strings", "gather_coded"]

MAX_ENTRIES = 65535
_EMPTY = -1
_U1 = np.uint64(1)


@kernel
def _hash(pool: np.ndarray, a: int, b: int) -> np.uint64:
    h = np.uint64(0xCBF29CE484222325)
    for p in range(np.uint64(a), np.uint64(b)):  # unsigned: no wrap-around checks
        h = (h ^ np.uint64(pool[p])) * np.uint64(0x100000001B3)
    return h ^ (h >> np.uint64(29))


@kernel
def _same(pool: np.ndarray, a: int, b: int, c: int, d: int) -> bool:
    if b - a != d - c:
        return False
    a, c = np.uint64(a), np.uint64(c)
    for k in range(np.uint64(b - a)):
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
def lookup_select(codes: np.ndarray, verdict: np.ndarray, start: int, limit: int,
                  out: np.ndarray) -> int:
    """Rows start + i (the first `limit`) whose verdict[codes[start + i]] is 1, written to out
    without a mask in between: lookup_dense and selected_rows in one pass. Every row number is
    written and only hits move the count on, so out needs room for every row from start."""
    start = np.uint64(start)
    limit = np.uint64(limit)
    found = np.uint64(0)
    for i in range(start, np.uint64(codes.shape[0])):
        out[found] = np.int64(i)
        found += np.uint64(verdict[codes[i]])
        if found >= limit:
            break
    return np.int64(min(found, limit))


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
    # Four histograms: runs of equal codes (common) would otherwise wait on each increment.
    local = np.zeros((4, entries), dtype=np.int64)
    n = np.uint64(codes.shape[0])
    four = n // np.uint64(4) * np.uint64(4)
    for i in range(np.uint64(0), four, np.uint64(4)):
        local[0, np.uint64(codes[i])] += 1
        local[1, np.uint64(codes[i + np.uint64(1)])] += 1
        local[2, np.uint64(codes[i + np.uint64(2)])] += 1
        local[3, np.uint64(codes[i + np.uint64(3)])] += 1
    for i in range(four, n):
        local[0, np.uint64(codes[i])] += 1
    counts = np.zeros(entries, dtype=np.int64)
    for e in range(entries):
        counts[e] = local[0, e] + local[1, e] + local[2, e] + local[3, e]
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


@kernel
def _coded_lengths(codes: np.ndarray, entry_offsets: np.ndarray, positions: np.ndarray,
                   out_offsets: np.ndarray) -> int:
    total = np.uint64(0)
    out_offsets[0] = 0
    for i in range(np.uint64(positions.shape[0])):
        p = positions[i]
        if p >= 0:
            e = np.uint64(codes[np.uint64(p)])
            total += np.uint64(entry_offsets[e + _U1]) - np.uint64(entry_offsets[e])
        out_offsets[i + _U1] = total
    return total


@kernel
def _copy_coded(codes: np.ndarray, entry_offsets: np.ndarray, entry_pool: np.ndarray,
                positions: np.ndarray, out_offsets: np.ndarray, out_pool: np.ndarray) -> None:
    for i in range(np.uint64(positions.shape[0])):
        p = positions[i]
        if p >= 0:
            e = np.uint64(codes[np.uint64(p)])
            a = np.uint64(entry_offsets[e])
            o = np.uint64(out_offsets[i])
            for j in range(np.uint64(entry_offsets[e + _U1]) - a):
                out_pool[o + j] = entry_pool[a + j]


@kernel
def gather_coded(codes: np.ndarray, entry_offsets: np.ndarray, entry_pool: np.ndarray,
                 positions: np.ndarray) -> tuple:
    """(int32 offsets, bytes) of the strings at `positions` (-1: empty, for nulls) of a column
    with a dictionary: read through the codes from the few distinct strings, which stay in
    cache, instead of from wherever each row's bytes lie in the pool."""
    out_offsets = np.empty(positions.shape[0] + 1, dtype=np.int32)
    total = _coded_lengths(codes, entry_offsets, positions, out_offsets)
    out_pool = np.empty(total, dtype=np.uint8)
    _copy_coded(codes, entry_offsets, entry_pool, positions, out_offsets, out_pool)
    return out_offsets, out_pool
