"""Filter kernels over string blocks (u32 offsets into a pool of UTF-8 bytes).

Comparisons are byte-wise, which for UTF-8 is code-point order. Operators: 0 <, 1 <=, 2 ==,
3 >=, 4 >, 5 !=, 7 starts_with, 8 ends_with, 9 contains (the wire protocol's numbers). `mode` 0 stores, 1 ANDs into the
mask; sparse variants clear rows without a value.
"""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["string_dense", "string_sparse", "string_in_dense", "string_in_sparse"]


@kernel
def _order(pool: np.ndarray, a: int, b: int, needle: np.ndarray) -> int:
    """Byte-wise order of pool[a:b] against the needle: -1, 0 or 1."""
    m = needle.shape[0]
    n = b - a
    k = n if n < m else m
    for i in range(k):
        x = pool[a + i]
        y = needle[i]
        if x != y:
            return -1 if x < y else 1
    if n == m:
        return 0
    return -1 if n < m else 1


@kernel
def _equal(pool: np.ndarray, a: int, b: int, needle: np.ndarray, at: int) -> bool:
    """pool[a + at : a + at + len(needle)] == needle (caller checked the bounds)."""
    for i in range(needle.shape[0]):
        if pool[a + at + i] != needle[i]:
            return False
    return True


@kernel
def _contains(pool: np.ndarray, a: int, b: int, needle: np.ndarray) -> bool:
    m = needle.shape[0]
    if m == 0:
        return True
    last = b - m
    first = needle[0]
    tail = needle[m - 1]
    p = a
    while p <= last:
        if pool[p] == first and pool[p + m - 1] == tail:
            match = True
            for i in range(1, m - 1):
                if pool[p + i] != needle[i]:
                    match = False
                    break
            if match:
                return True
        p += 1
    return False


@kernel
def _string_test(pool: np.ndarray, a: int, b: int, op: int, needle: np.ndarray) -> bool:
    m = needle.shape[0]
    if op == 2:
        return b - a == m and _equal(pool, a, b, needle, 0)
    if op == 5:
        return not (b - a == m and _equal(pool, a, b, needle, 0))
    if op == 7:
        return b - a >= m and _equal(pool, a, b, needle, 0)
    if op == 8:
        return b - a >= m and _equal(pool, a, b, needle, b - a - m)
    if op == 9:
        return _contains(pool, a, b, needle)
    order = _order(pool, a, b, needle)
    if op == 0:
        return order < 0
    if op == 1:
        return order <= 0
    if op == 3:
        return order >= 0
    return order > 0


@kernel
def string_dense(offsets: np.ndarray, pool: np.ndarray, op: int, needle: np.ndarray,
                 mask: np.ndarray, mode: int, start: int) -> None:
    """mask[i] (=|&=) string(start + i) <op> needle."""
    for i in range(mask.shape[0]):
        if mode and not mask[i]:
            continue
        r = _string_test(pool, offsets[start + i], offsets[start + i + 1], op, needle)
        mask[i] = r


@kernel
def string_sparse(offsets: np.ndarray, pool: np.ndarray, index: np.ndarray, op: int,
                  needle: np.ndarray, mask: np.ndarray, mode: int, start: int) -> None:
    n = mask.shape[0]
    prev = 0
    for k in range(np.searchsorted(index, start), np.searchsorted(index, start + n)):
        row = index[k] - start
        for j in range(prev, row):
            mask[j] = 0
        if not mode or mask[row]:
            mask[row] = _string_test(pool, offsets[k], offsets[k + 1], op, needle)
        prev = row + 1
    for j in range(prev, n):
        mask[j] = 0


@kernel
def _member(pool: np.ndarray, a: int, b: int, set_offsets: np.ndarray,
            set_pool: np.ndarray) -> bool:
    """Binary search of pool[a:b] in a sorted set of strings (offsets + pool)."""
    lo = 0
    hi = set_offsets.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        order = _order(pool, a, b, set_pool[set_offsets[mid]:set_offsets[mid + 1]])
        if order == 0:
            return True
        if order < 0:
            hi = mid
        else:
            lo = mid + 1
    return False


@kernel
def string_in_dense(offsets: np.ndarray, pool: np.ndarray, set_offsets: np.ndarray,
                    set_pool: np.ndarray, mask: np.ndarray, mode: int, start: int) -> None:
    for i in range(mask.shape[0]):
        if mode and not mask[i]:
            continue
        mask[i] = _member(pool, offsets[start + i], offsets[start + i + 1], set_offsets, set_pool)


@kernel
def string_in_sparse(offsets: np.ndarray, pool: np.ndarray, index: np.ndarray,
                     set_offsets: np.ndarray, set_pool: np.ndarray, mask: np.ndarray, mode: int,
                     start: int) -> None:
    n = mask.shape[0]
    prev = 0
    for k in range(np.searchsorted(index, start), np.searchsorted(index, start + n)):
        row = index[k] - start
        for j in range(prev, row):
            mask[j] = 0
        if not mode or mask[row]:
            mask[row] = _member(pool, offsets[k], offsets[k + 1], set_offsets, set_pool)
        prev = row + 1
    for j in range(prev, n):
        mask[j] = 0
