"""Filter kernels over integer blocks: write or AND a row mask from a comparison.

Masks are uint8 arrays with one entry per partition row (1 = the row passes). `mode` 0 stores
the result, 1 ANDs it into the mask (filters of one AND-group fold into one mask without
temporaries). Operators are small integers (see `hyena.engine.scan.request.Op`):
0 <, 1 <=, 2 ==, 3 >=, 4 >, 5 !=.

Indexes are unsigned on purpose: numba checks every signed index for wrap-around (a negative
index counts from the end), which keeps loops from vectorising; measured 12x slower here.
"""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["compare_dense", "compare_sparse", "in_dense", "in_sparse", "in_select",
           "compare128_dense",
           "compare128_sparse", "in128_dense", "in128_sparse", "range_mask", "count_range"]


@kernel
def _test(v, op: int, c) -> bool:
    if op == 0:
        return v < c
    if op == 1:
        return v <= c
    if op == 2:
        return v == c
    if op == 3:
        return v >= c
    if op == 4:
        return v > c
    return v != c


@kernel
def compare_dense(values: np.ndarray, op: int, c, mask: np.ndarray, mode: int, start: int) -> None:
    """mask[i] (=|&=) values[start + i] <op> c, for every row i of the mask."""
    n = np.uint64(mask.shape[0])
    start = np.uint64(start)
    # One loop per operator keeps the comparison out of the inner loop (vectorisable).
    if op == 0:
        for i in range(n):
            r = values[start + i] < c
            mask[i] = (mask[i] & r) if mode else r
    elif op == 1:
        for i in range(n):
            r = values[start + i] <= c
            mask[i] = (mask[i] & r) if mode else r
    elif op == 2:
        for i in range(n):
            r = values[start + i] == c
            mask[i] = (mask[i] & r) if mode else r
    elif op == 3:
        for i in range(n):
            r = values[start + i] >= c
            mask[i] = (mask[i] & r) if mode else r
    elif op == 4:
        for i in range(n):
            r = values[start + i] > c
            mask[i] = (mask[i] & r) if mode else r
    else:
        for i in range(n):
            r = values[start + i] != c
            mask[i] = (mask[i] & r) if mode else r


@kernel
def compare_sparse(values: np.ndarray, index: np.ndarray, op: int, c, mask: np.ndarray,
                   mode: int, start: int) -> None:
    """Like compare_dense for a sparse column: rows without a value never pass."""
    n = np.uint64(mask.shape[0])
    start = np.uint64(start)
    prev = np.uint64(0)
    for k in range(np.uint64(np.searchsorted(index, start)),
                   np.uint64(np.searchsorted(index, start + n))):
        row = np.uint64(index[k]) - start
        for j in range(prev, row):
            mask[j] = 0
        r = _test(values[k], op, c)
        mask[row] = (mask[row] & r) if mode else r
        prev = row + np.uint64(1)
    for j in range(prev, n):
        mask[j] = 0


@kernel
def _member(v, sorted_set: np.ndarray) -> bool:
    n = sorted_set.shape[0]
    if n <= 8:  # a few values: compare with each, no branches to mispredict
        hit = False
        for j in range(n):
            hit |= v == sorted_set[j]
        return hit
    pos = np.searchsorted(sorted_set, v)
    return pos < n and sorted_set[pos] == v


@kernel
def _eight(sorted_set: np.ndarray) -> tuple:
    """The 1..8 members as eight values, the last one repeated (for branch-free tests)."""
    k = sorted_set.shape[0] - 1
    return (sorted_set[0], sorted_set[min(1, k)], sorted_set[min(2, k)], sorted_set[min(3, k)],
            sorted_set[min(4, k)], sorted_set[min(5, k)], sorted_set[min(6, k)],
            sorted_set[min(7, k)])


@kernel
def _in_few(values: np.ndarray, sorted_set: np.ndarray, mask: np.ndarray, mode: int,
            start: np.uint64) -> None:
    """in_dense for 1..8 values: eight comparisons per row (repeating the last value), no
    branches and no loop over the set, so the compiler vectorises the row loop."""
    s0, s1, s2, s3, s4, s5, s6, s7 = _eight(sorted_set)
    for i in range(np.uint64(mask.shape[0])):
        v = values[start + i]
        r = ((v == s0) | (v == s1) | (v == s2) | (v == s3) | (v == s4) | (v == s5) |
             (v == s6) | (v == s7))
        mask[i] = (mask[i] & r) if mode else r


@kernel
def in_dense(values: np.ndarray, sorted_set: np.ndarray, mask: np.ndarray, mode: int,
             start: int) -> None:
    start = np.uint64(start)
    if 0 < sorted_set.shape[0] <= 8:
        _in_few(values, sorted_set, mask, mode, start)
        return
    for i in range(np.uint64(mask.shape[0])):
        r = _member(values[start + i], sorted_set)
        mask[i] = (mask[i] & r) if mode else r


@kernel
def in_select(values: np.ndarray, sorted_set: np.ndarray, start: int, limit: int,
              out: np.ndarray) -> int:
    """Rows start + i (the first `limit`) whose value is one of 1..8 members, without a mask:
    64 rows at a time are tested with branch-free comparisons (vectorised), and only blocks
    holding a hit are looked at row by row (a selective IN seldom has one)."""
    s0, s1, s2, s3, s4, s5, s6, s7 = _eight(sorted_set)
    n = np.uint64(values.shape[0])
    limit = np.uint64(limit)
    found = np.uint64(0)
    i = np.uint64(start)
    block = np.uint64(64)
    while i < n:
        size = min(block, n - i)
        hit = False
        for r in range(size):
            v = values[i + r]
            hit |= ((v == s0) | (v == s1) | (v == s2) | (v == s3) | (v == s4) | (v == s5) |
                    (v == s6) | (v == s7))
        if hit:
            for r in range(size):
                v = values[i + r]
                if ((v == s0) | (v == s1) | (v == s2) | (v == s3) | (v == s4) | (v == s5) |
                        (v == s6) | (v == s7)):
                    out[found] = np.int64(i + r)
                    found += np.uint64(1)
                    if found == limit:
                        return np.int64(found)
        i += size
    return np.int64(found)


@kernel
def in_sparse(values: np.ndarray, index: np.ndarray, sorted_set: np.ndarray, mask: np.ndarray,
              mode: int, start: int) -> None:
    n = np.uint64(mask.shape[0])
    start = np.uint64(start)
    prev = np.uint64(0)
    for k in range(np.uint64(np.searchsorted(index, start)),
                   np.uint64(np.searchsorted(index, start + n))):
        row = np.uint64(index[k]) - start
        for j in range(prev, row):
            mask[j] = 0
        r = _member(values[k], sorted_set)
        mask[row] = (mask[row] & r) if mode else r
        prev = row + np.uint64(1)
    for j in range(prev, n):
        mask[j] = 0


# --- 128-bit: values are (n, 2) uint64 [low, high]; signed columns flip the sign bit of the
# high word so that unsigned comparison of (high, low) orders them correctly.

@kernel
def _cmp128(hi, lo, chi, clo) -> int:
    if hi < chi:
        return -1
    if hi > chi:
        return 1
    if lo < clo:
        return -1
    if lo > clo:
        return 1
    return 0


@kernel
def _op128(order: int, op: int) -> bool:
    if op == 0:
        return order < 0
    if op == 1:
        return order <= 0
    if op == 2:
        return order == 0
    if op == 3:
        return order >= 0
    if op == 4:
        return order > 0
    return order != 0


@kernel
def compare128_dense(pairs: np.ndarray, bias: np.uint64, op: int, chi: np.uint64,
                     clo: np.uint64, mask: np.ndarray, mode: int, start: int) -> None:
    start = np.uint64(start)
    for i in range(np.uint64(mask.shape[0])):
        r = _op128(_cmp128(pairs[start + i, 1] ^ bias, pairs[start + i, 0], chi, clo), op)
        mask[i] = (mask[i] & r) if mode else r


@kernel
def compare128_sparse(pairs: np.ndarray, index: np.ndarray, bias: np.uint64, op: int,
                      chi: np.uint64, clo: np.uint64, mask: np.ndarray, mode: int,
                      start: int) -> None:
    n = np.uint64(mask.shape[0])
    start = np.uint64(start)
    prev = np.uint64(0)
    for k in range(np.uint64(np.searchsorted(index, start)),
                   np.uint64(np.searchsorted(index, start + n))):
        row = np.uint64(index[k]) - start
        for j in range(prev, row):
            mask[j] = 0
        r = _op128(_cmp128(pairs[k, 1] ^ bias, pairs[k, 0], chi, clo), op)
        mask[row] = (mask[row] & r) if mode else r
        prev = row + np.uint64(1)
    for j in range(prev, n):
        mask[j] = 0


@kernel
def _member128(hi, lo, set_hi: np.ndarray, set_lo: np.ndarray) -> bool:
    for j in range(set_hi.shape[0]):
        if set_hi[j] == hi and set_lo[j] == lo:
            return True
    return False


@kernel
def in128_dense(pairs: np.ndarray, bias: np.uint64, set_hi: np.ndarray, set_lo: np.ndarray,
                mask: np.ndarray, mode: int, start: int) -> None:
    start = np.uint64(start)
    for i in range(np.uint64(mask.shape[0])):
        r = _member128(pairs[start + i, 1] ^ bias, pairs[start + i, 0], set_hi, set_lo)
        mask[i] = (mask[i] & r) if mode else r


@kernel
def in128_sparse(pairs: np.ndarray, index: np.ndarray, bias: np.uint64, set_hi: np.ndarray,
                 set_lo: np.ndarray, mask: np.ndarray, mode: int, start: int) -> None:
    n = np.uint64(mask.shape[0])
    start = np.uint64(start)
    prev = np.uint64(0)
    for k in range(np.uint64(np.searchsorted(index, start)),
                   np.uint64(np.searchsorted(index, start + n))):
        row = np.uint64(index[k]) - start
        for j in range(prev, row):
            mask[j] = 0
        r = _member128(pairs[k, 1] ^ bias, pairs[k, 0], set_hi, set_lo)
        mask[row] = (mask[row] & r) if mode else r
        prev = row + np.uint64(1)
    for j in range(prev, n):
        mask[j] = 0


# --- time ranges -------------------------------------------------------------------------------

@kernel
def range_mask(ts: np.ndarray, lo: np.uint64, hi: np.uint64, mask: np.ndarray, mode: int,
               start: int) -> None:
    """mask[i] (=|&=) lo <= ts[start + i] < hi."""
    start = np.uint64(start)
    for i in range(np.uint64(mask.shape[0])):
        v = ts[start + i]
        r = (v >= lo) & (v < hi)
        mask[i] = (mask[i] & r) if mode else r


@kernel
def count_range(ts: np.ndarray, lo: np.uint64, hi: np.uint64) -> int:
    """Rows with lo <= ts < hi (a count needs no mask)."""
    total = 0
    for i in range(np.uint64(ts.shape[0])):
        v = ts[i]
        total += (v >= lo) & (v < hi)
    return total
