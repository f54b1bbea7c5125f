"""Kernels for the wire format's Vec<String>: u64 length then bytes, repeated (bincode).
Indexes are unsigned (see compare.py)."""
from __future__ import annotations

import numpy as np

from hyena.kernels._jit import kernel
from hyena.kernels.validate import utf8_error_offset

__all__ = ["decode_string_vec", "encode_string_vec", "utf8_error_offset"]

_U8 = np.uint64(8)


@kernel
def decode_string_vec(raw: np.ndarray, pos: int, n: int, offsets: np.ndarray,
                      out: np.ndarray) -> int:
    """Read n length-prefixed strings from raw[pos:] into offsets/out; return the position
    after them, or -(position of the problem) when the message ends inside a string."""
    end = np.uint64(raw.shape[0])
    p = np.uint64(pos)
    o = np.uint64(0)
    offsets[0] = 0
    for i in range(np.uint64(n)):
        if end - p < _U8:
            return -np.int64(p)
        length = np.uint64(0)
        for b in range(np.uint64(8)):
            length |= np.uint64(raw[p + b]) << (_U8 * b)
        p += _U8
        if length > end - p:
            return -np.int64(p - _U8)
        for k in range(length):
            out[o + k] = raw[p + k]
        o += length
        p += length
        offsets[i + np.uint64(1)] = o
    return np.int64(p)


@kernel
def encode_string_vec(offsets: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    """Write each string as its u64 length then its bytes (offsets index `data` directly)."""
    o = np.uint64(0)
    for i in range(np.uint64(offsets.shape[0] - 1)):
        a = np.uint64(offsets[i])
        length = np.uint64(offsets[i + np.uint64(1)]) - a
        for b in range(np.uint64(8)):
            out[o + b] = (length >> (_U8 * b)) & np.uint64(0xFF)
        o += _U8
        for k in range(length):
            out[o + k] = data[a + k]
        o += length
