"""Load the wire kernels before the first message instead of in it.

The string-vector and UTF-8 kernels compile (or load from numba's cache) on first use for
each array layout they see: a second or more on a busy machine, paid by the first Insert or
Scan with strings. `warm_up()` encodes and decodes a message with every column type, with
read-only and writable arrays (each a layout of its own).
"""
from __future__ import annotations

import time

import numpy as np

from hyena.protocol import codec
from hyena.protocol import messages as m
from hyena.types import ColumnType

__all__ = ["warm_up"]


def _fragment(ctype: ColumnType, readonly: bool) -> m.Fragment:
    index = np.array([0, 2, 5], dtype=np.uint32) if ctype.is_sparse else None
    if ctype.is_string:
        raw = b"INVITEBYEx"
        values = np.frombuffer(raw, np.uint8) if readonly else np.array(list(raw), np.uint8)
        offsets = np.array([0, 6, 9, 10], dtype=np.int64)
        if readonly:
            offsets.flags.writeable = False
        return m.Fragment(ctype, values, index, offsets)
    values = np.zeros(3, dtype=ctype.dtype)
    if readonly:
        values.flags.writeable = False
    return m.Fragment(ctype, values, index)


def warm_up() -> float:
    """Round-trip an Insert and a Scan reply holding every column type; returns seconds."""
    began = time.perf_counter()
    for readonly in (False, True):
        fragments = {2 + int(t): _fragment(t, readonly) for t in ColumnType}
        insert = m.Insert(m.InsertMessage(np.arange(3, dtype=np.uint64), 1, (fragments,)))
        message = codec.decode_peer_request(codec.encode_request_message(1, insert))
        codec.decode_request(message.payload)
        codec.decode_request(codec.encode_request(insert))
        result = m.ScanResult(tuple(m.DataTriple(c, f.type, f) for c, f in fragments.items()))
        reply = codec.decode_peer_reply(codec.encode_response_message(
            1, codec.reply_writer(m.ScanReply(result))))
        codec.decode_reply(reply.result)
    return time.perf_counter() - began
