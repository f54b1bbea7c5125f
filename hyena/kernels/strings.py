"""Filter kernels over string blocks (u32 offsets into a pool of UTF-8 bytes).

Comparisons are byte-wise, which for UTF-8 is code-point order. Operators: 0 <, 1 <=, 2 ==,
3 >=, 4 >, 5 !=, 7 starts_with, 8 ends_with, 9 contains (the wire protocol's numbers). `mode` 0 stores, 1 ANDs into the
mask; sparse variants clear rows without a value. Indexes are unsigned (see compare.py).
"""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["string_dense", "string_sparse", "string_in_dense", "string_in_sparse",
           "contains_scan"]

_LOW = np.uint64(0x0101010101010101)
_HIGH = np.uint64(0x8080808080808080)


_U1 = np.uint64(1)


@kernel
def _order(pool: np.ndarray, a: np.uint64, b: np.uint64, needle: np.ndarray) -> int:
    """Byte-wise order of pool[a:b] against the needle: -1, 0 or 1."""
    m = np.uint64(needle.shape[0])
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
def _equal(pool: np.ndarray, a: np.uint64, needle: np.ndarray) -> bool:
    """pool[a : a + len(needle)] == needle (caller checked the bounds)."""
    for i in range(np.uint64(needle.shape[0])):
        if pool[a + i] != needle[i]:
            return False
    return True


@kernel
def _contains(pool: np.ndarray, a: np.uint64, b: np.uint64, needle: np.ndarray) -> bool:
    m = np.uint64(needle.shape[0])
    if m == 0:
        return True
    if b - a < m:
        return False
    first = needle[0]
    tail = needle[m - _U1]
    for p in range(a, b - m + _U1):
        if pool[p] == first and pool[p + m - _U1] == tail:
            match = True
            for i in range(_U1, m - _U1):
                if pool[p + i] != needle[i]:
                    match = False
                    break
            if match:
                return True
    return False


@kernel
def _string_test(pool: np.ndarray, a: np.uint64, b: np.uint64, op: int,
                 needle: np.ndarray) -> bool:
    m = np.uint64(needle.shape[0])
    if op == 2:
        return b - a == m and _equal(pool, a, needle)
    if op == 5:
        return not (b - a == m and _equal(pool, a, needle))
    if op == 7:
        return b - a >= m and _equal(pool, a, needle)
    if op == 8:
        return b - a >= m and _equal(pool, b - m, needle)
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
    start = np.uint64(start)
    n = np.uint64(mask.shape[0])
    if op == 2 or op == 5:
        _equality(offsets, pool, needle, mask, mode, start, n, op == 5)
        return
    for i in range(n):
        if mode and not mask[i]:
            continue
        mask[i] = _string_test(pool, np.uint64(offsets[start + i]),
                               np.uint64(offsets[start + i + _U1]), op, needle)


@kernel
def _equality(offsets: np.ndarray, pool: np.ndarray, needle: np.ndarray, mask: np.ndarray,
              mode: int, start: np.uint64, n: np.uint64, negate: bool) -> None:
    """== and != in one loop the compiler can keep tight: length, first byte, then the rest."""
    m = np.uint64(needle.shape[0])
    first = needle[0] if m else np.uint8(0)
    for i in range(n):
        a = np.uint64(offsets[start + i])
        b = np.uint64(offsets[start + i + _U1])
        r = b - a == m and (m == 0 or pool[a] == first)
        if r:
            for k in range(_U1, m):
                if pool[a + k] != needle[k]:
                    r = False
                    break
        r = r != negate
        mask[i] = (mask[i] & r) if mode else r


@kernel
def contains_scan(offsets: np.ndarray, pool: np.ndarray, words: np.ndarray, needle: np.ndarray,
                  mask: np.ndarray, start: int) -> None:
    """mask[i] = string(start + i) contains needle, by one pass over the pool.

    The pool is searched 8 bytes at a time (`words` is the pool viewed as uint64) for the
    needle's first byte; only words holding it are looked at byte by byte. A match is credited
    to the string it starts in if it ends there too. Much faster than a loop per string when
    the first byte is rare, as it usually is."""
    n = np.uint64(mask.shape[0])
    m = np.uint64(needle.shape[0])
    start = np.uint64(start)
    mask[:] = 0
    if m == 0:
        mask[:] = 1
        return
    a0 = np.uint64(offsets[start])
    end = np.uint64(offsets[start + n])
    if end - a0 < m:
        return
    last = end - m  # the last position a match can start at
    first = needle[0]
    pattern = np.uint64(first) * _LOW
    # With two bytes or more, a word is only looked at where byte j equals needle[0] and byte
    # j + 1 (which may be the next word's first byte) equals needle[1].
    second = np.uint64(needle[1]) * _LOW if m > _U1 else np.uint64(0)
    row = start
    w = a0 >> np.uint64(3)
    w_end = (last >> np.uint64(3)) + _U1
    n_words = np.uint64(words.shape[0])
    while w < w_end:
        if w + _U1 < n_words:
            v = words[w] ^ pattern
            hits = (v - _LOW) & ~v & _HIGH
            if hits and m > _U1:
                shifted = (words[w] >> np.uint64(8)) | (words[w + _U1] << np.uint64(56))
                v2 = shifted ^ second
                hits &= (v2 - _LOW) & ~v2 & _HIGH
            if hits == 0:
                w += _U1
                continue
        lo = max(w << np.uint64(3), a0)
        hi = min((w << np.uint64(3)) + np.uint64(8), last + _U1)
        for p in range(lo, hi):
            if pool[p] != first:
                continue
            match = True
            for k in range(_U1, m):
                if pool[p + k] != needle[k]:
                    match = False
                    break
            if match:
                while np.uint64(offsets[row + _U1]) <= p:
                    row += _U1
                if p + m <= np.uint64(offsets[row + _U1]):
                    mask[row - start] = 1
        w += _U1


@kernel
def string_sparse(offsets: np.ndarray, pool: np.ndarray, index: np.ndarray, op: int,
                  needle: np.ndarray, mask: np.ndarray, mode: int, start: int) -> None:
    n = np.uint64(mask.shape[0])
    start = np.uint64(start)
    prev = np.uint64(0)
    for k in range(np.uint64(np.searchsorted(index, start)),
                   np.uint64(np.searchsorted(index, start + n))):
        row = np.uint64(index[k]) - start
        for j in range(prev, row):
            mask[j] = 0
        if not mode or mask[row]:
            mask[row] = _string_test(pool, np.uint64(offsets[k]), np.uint64(offsets[k + _U1]),
                                     op, needle)
        prev = row + _U1
    for j in range(prev, n):
        mask[j] = 0


@kernel
def _member(pool: np.ndarray, a: np.uint64, b: np.uint64, set_offsets: np.ndarray,
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
    start = np.uint64(start)
    for i in range(np.uint64(mask.shape[0])):
        if mode and not mask[i]:
            continue
        mask[i] = _member(pool, np.uint64(offsets[start + i]), np.uint64(offsets[start + i + _U1]),
                          set_offsets, set_pool)


@kernel
def string_in_sparse(offsets: np.ndarray, pool: np.ndarray, index: np.ndarray,
                     set_offsets: np.ndarray, set_pool: np.ndarray, mask: np.ndarray, mode: int,
                     start: int) -> None:
    n = np.uint64(mask.shape[0])
    start = np.uint64(start)
    prev = np.uint64(0)
    for k in range(np.uint64(np.searchsorted(index, start)),
                   np.uint64(np.searchsorted(index, start + n))):
        row = np.uint64(index[k]) - start
        for j in range(prev, row):
            mask[j] = 0
        if not mode or mask[row]:
            mask[row] = _member(pool, np.uint64(offsets[k]), np.uint64(offsets[k + _U1]),
                                set_offsets, set_pool)
        prev = row + _U1
    for j in range(prev, n):
        mask[j] = 0
