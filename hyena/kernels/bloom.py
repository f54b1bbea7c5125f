"""Trigram bloom filters over a partition's strings.

Every 3-byte window of every string sets `PROBES` bits of a filter of 2**bits bits. A needle
can only occur in the partition if all the bits of all its trigrams are set, so a scan for a
substring, prefix, suffix or equal string skips partitions whose filter lacks one. Needles
shorter than 3 bytes cannot be checked and never skip.
"""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["PROBES", "bloom_bits_for", "build_bloom", "trigram_keys", "may_contain"]

PROBES = 3
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)


def bloom_bits_for(trigrams: int) -> int:
    """log2 of the filter size: about 12 bits per trigram (~1-2 % false positives with 3
    probes), between 2**13 and 2**27 bits (1 KiB .. 16 MiB)."""
    want = max(1, trigrams) * 12
    return int(min(27, max(13, int(np.ceil(np.log2(want))))))


@kernel
def _set(words: np.ndarray, key: np.uint64, shift: np.uint64) -> None:
    h1 = (key * _M1) >> shift
    h2 = ((key * _M2) >> shift) | np.uint64(1)
    mask = (np.uint64(1) << (np.uint64(64) - shift)) - np.uint64(1)
    for i in range(PROBES):
        bit = (h1 + np.uint64(i) * h2) & mask
        words[bit >> np.uint64(6)] |= np.uint64(1) << (bit & np.uint64(63))


@kernel
def _test(words: np.ndarray, key: np.uint64, shift: np.uint64) -> bool:
    h1 = (key * _M1) >> shift
    h2 = ((key * _M2) >> shift) | np.uint64(1)
    mask = (np.uint64(1) << (np.uint64(64) - shift)) - np.uint64(1)
    for i in range(PROBES):
        bit = (h1 + np.uint64(i) * h2) & mask
        if not (words[bit >> np.uint64(6)] >> (bit & np.uint64(63))) & np.uint64(1):
            return False
    return True


@kernel
def build_bloom(offsets: np.ndarray, pool: np.ndarray, bits: int) -> np.ndarray:
    """The filter (uint64 words) over every trigram of every string."""
    words = np.zeros((1 << bits) // 64, dtype=np.uint64)
    shift = np.uint64(64 - bits)
    for s in range(offsets.shape[0] - 1):
        a = offsets[s]
        b = offsets[s + 1]
        for p in range(a, b - 2):
            key = np.uint64(pool[p]) | (np.uint64(pool[p + 1]) << np.uint64(8)) | \
                (np.uint64(pool[p + 2]) << np.uint64(16))
            _set(words, key, shift)
    return words


def trigram_keys(needle: bytes) -> np.ndarray:
    raw = np.frombuffer(needle, dtype=np.uint8).astype(np.uint64)
    if len(raw) < 3:
        return np.empty(0, dtype=np.uint64)
    return raw[:-2] | (raw[1:-1] << np.uint64(8)) | (raw[2:] << np.uint64(16))


@kernel
def may_contain(words: np.ndarray, keys: np.ndarray) -> bool:
    bits = 0
    n = words.shape[0] * 64
    while (1 << bits) < n:
        bits += 1
    shift = np.uint64(64 - bits)
    for i in range(keys.shape[0]):
        if not _test(words, keys[i], shift):
            return False
    return True
