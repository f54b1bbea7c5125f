"""Kernels that check append input before anything is written."""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["utf8_error_offset", "strictly_increasing_below", "int128_minmax"]

_HIGH_BITS = np.uint64(0x8080808080808080)


@kernel
def _utf8_error_offset(data: np.ndarray, words: np.ndarray) -> int:
    """Offset of the first byte that makes `data` invalid UTF-8, or -1 when it is valid."""
    n = data.shape[0]
    i = 0
    while i < n:
        # ASCII fast path: skip 8 bytes at a time while no high bit is set.
        if (i & 7) == 0:
            w = i >> 3
            while w < words.shape[0] and (words[w] & _HIGH_BITS) == 0:
                w += 1
            i = w << 3
            if i >= n:
                return -1
        c = data[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            need = 1
            lo, hi = 0x80, 0xBF
        elif 0xE0 <= c <= 0xEF:
            need = 2
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
        elif 0xF0 <= c <= 0xF4:
            need = 3
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF
        else:
            return i
        if i + need >= n:
            return i
        b = data[i + 1]
        if b < lo or b > hi:
            return i
        for k in range(2, need + 1):
            b = data[i + k]
            if b < 0x80 or b > 0xBF:
                return i
        i += need + 1
    return -1


def utf8_error_offset(data: np.ndarray) -> int:
    """-1 when the uint8 array `data` is valid UTF-8, else the offset of the first bad byte."""
    data = np.ascontiguousarray(data, dtype=np.uint8)
    words = data[: data.shape[0] // 8 * 8].view(np.uint64)
    return int(_utf8_error_offset(data, words))


@kernel
def strictly_increasing_below(index: np.ndarray, bound: int) -> int:
    """Position of the first entry that is not above its predecessor or not below `bound`;
    -1 when the whole array is strictly increasing and within [0, bound)."""
    prev = -1
    for i in range(index.shape[0]):
        v = np.int64(index[i])
        if v <= prev or v >= bound:
            return i
        prev = v
    return -1


@kernel
def _int128_minmax(pairs: np.ndarray, signed: bool) -> tuple:
    # pairs: (n, 2) uint64, [low, high] words of little-endian 128-bit values.
    bias = np.uint64(0x8000000000000000) if signed else np.uint64(0)
    min_hi = pairs[0, 1] ^ bias
    min_lo = pairs[0, 0]
    max_hi = min_hi
    max_lo = min_lo
    for i in range(1, pairs.shape[0]):
        hi = pairs[i, 1] ^ bias
        lo = pairs[i, 0]
        if hi < min_hi or (hi == min_hi and lo < min_lo):
            min_hi = hi
            min_lo = lo
        if hi > max_hi or (hi == max_hi and lo > max_lo):
            max_hi = hi
            max_lo = lo
    return min_lo, min_hi ^ bias, max_lo, max_hi ^ bias


def int128_minmax(values: np.ndarray, signed: bool) -> tuple[int, int]:
    """(min, max) as Python ints of a non-empty array of 16-byte little-endian integers."""
    pairs = np.ascontiguousarray(values).view(np.uint64).reshape(-1, 2)
    min_lo, min_hi, max_lo, max_hi = _int128_minmax(pairs, signed)
    lo_v = int(min_lo) | (int(min_hi) << 64)
    hi_v = int(max_lo) | (int(max_hi) << 64)
    if signed:
        lo_v = lo_v - (1 << 128) if lo_v >> 127 else lo_v
        hi_v = hi_v - (1 << 128) if hi_v >> 127 else hi_v
    return lo_v, hi_v
