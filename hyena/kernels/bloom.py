"""Bloom filters over a partition's strings: one of trigrams, one of whole values.

Every 3-byte window of every string sets bits of the trigram filter: a needle can only occur
in the partition if all the bits of all its trigrams are set, so a scan for a substring, prefix
or suffix skips partitions whose filter lacks one (needles shorter than 3 bytes never skip).
Random identifiers (Call-IDs) use every trigram of their alphabet in every partition, which
makes trigrams useless for finding one of them; the value filter holds a hash of each whole
string, so `==` and `in` skip every partition that lacks the value (but ~1 % false hits).
Each filter is sized from what it holds: about 10 bits per distinct trigram or per row.
"""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["build_blooms", "trigram_keys", "value_key", "may_contain"]

PROBES = 3
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_MIN_BITS = 10
_MAX_BITS = 27


@kernel
def _bits_for(items: int) -> int:
    want = max(1, items) * 10
    bits = _MIN_BITS
    while (1 << bits) < want and bits < _MAX_BITS:
        bits += 1
    return bits


@kernel
def _set(words: np.ndarray, key: np.uint64, bits: int) -> None:
    shift = np.uint64(64 - bits)
    h1 = (key * _M1) >> shift
    h2 = ((key * _M2) >> shift) | np.uint64(1)
    mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    for i in range(PROBES):
        bit = (h1 + np.uint64(i) * h2) & mask
        words[bit >> np.uint64(6)] |= np.uint64(1) << (bit & np.uint64(63))


@kernel
def _test(words: np.ndarray, key: np.uint64, bits: int) -> bool:
    shift = np.uint64(64 - bits)
    h1 = (key * _M1) >> shift
    h2 = ((key * _M2) >> shift) | np.uint64(1)
    mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    for i in range(PROBES):
        bit = (h1 + np.uint64(i) * h2) & mask
        if not (words[bit >> np.uint64(6)] >> (bit & np.uint64(63))) & np.uint64(1):
            return False
    return True


@kernel
def _hash_bytes(pool: np.ndarray, a: int, b: int) -> np.uint64:
    """A 64-bit hash of pool[a:b] (FNV-1a over bytes, then a final mix)."""
    h = np.uint64(0xCBF29CE484222325)
    for p in range(a, b):
        h = (h ^ np.uint64(pool[p])) * np.uint64(0x100000001B3)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


@kernel
def _trigram(pool: np.ndarray, p: int) -> np.uint64:
    return np.uint64(pool[p]) | (np.uint64(pool[p + 1]) << np.uint64(8)) | \
        (np.uint64(pool[p + 2]) << np.uint64(16))


@kernel
def build_blooms(offsets: np.ndarray, pool: np.ndarray) -> tuple:
    """(trigram filter words, value filter words) of the strings pool[offsets[i]:offsets[i+1]]."""
    seen = np.zeros(1 << 18, dtype=np.uint64)  # one bit per possible trigram (2**24)
    distinct = 0
    n = offsets.shape[0] - 1
    for s in range(n):
        for p in range(offsets[s], offsets[s + 1] - 2):
            key = _trigram(pool, p)
            word = key >> np.uint64(6)
            bit = np.uint64(1) << (key & np.uint64(63))
            if not seen[word] & bit:
                seen[word] |= bit
                distinct += 1
    tri_bits = _bits_for(distinct)
    trigrams = np.zeros((1 << tri_bits) // 64, dtype=np.uint64)
    for w in range(seen.shape[0]):
        word = seen[w]
        while word:
            low = word & (~word + np.uint64(1))
            k = 0
            probe = low
            while probe > np.uint64(1):
                probe >>= np.uint64(1)
                k += 1
            _set(trigrams, (np.uint64(w) << np.uint64(6)) | np.uint64(k), tri_bits)
            word ^= low
    val_bits = _bits_for(n)
    values = np.zeros((1 << val_bits) // 64, dtype=np.uint64)
    for s in range(n):
        _set(values, _hash_bytes(pool, offsets[s], offsets[s + 1]), val_bits)
    return trigrams, values


def trigram_keys(needle: bytes) -> np.ndarray:
    raw = np.frombuffer(needle, dtype=np.uint8).astype(np.uint64)
    if len(raw) < 3:
        return np.empty(0, dtype=np.uint64)
    return raw[:-2] | (raw[1:-1] << np.uint64(8)) | (raw[2:] << np.uint64(16))


def value_key(value: bytes) -> np.ndarray:
    data = np.frombuffer(value, dtype=np.uint8)
    return np.array([_hash_bytes(data, 0, len(data))], dtype=np.uint64)


@kernel
def may_contain(words: np.ndarray, keys: np.ndarray) -> bool:
    """False when some key is certainly not in the filter."""
    bits = 0
    while (1 << bits) < words.shape[0] * 64:
        bits += 1
    for i in range(keys.shape[0]):
        if not _test(words, keys[i], bits):
            return False
    return True
