"""Decode many HEP packets at once: a numba kernel over the packets of one receive batch.

The capture daemon's fast path. `decode_batch(data, bounds, arrival)` reads packets laid end
to end in one byte buffer and returns their fields as arrays: fixed-size chunk values, the
byte spans of variable ones (payload, node name, ...), addresses, times, and a status per
packet. The rules are those of `decode.decode` (which stays the reference and the slow path):
the same packets are rejected for the same reasons, the same values come out. A packet the
kernel does not handle itself (a compressed payload, a text chunk that is not UTF-8) gets
status SLOW and is decoded by `decode.decode` instead; the kernel never guesses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepserver.hep.errors import REASONS
from hyena.kernels._jit import kernel

__all__ = ["HepBatch", "decode_batch", "OK", "AUTH", "SLOW", "REJECTED", "FIXED_TYPES",
           "SPAN_TYPES", "PAYLOAD", "AUTH_KEY", "utf8_valid"]

OK, AUTH, SLOW = 0, 100, 255
REJECTED = {i + 1: reason for i, reason in enumerate(REASONS)}  # status -> counter reason
_CODE = {reason: status for status, reason in REJECTED.items()}
_TRUNCATED, _BAD_MAGIC, _BAD_LENGTH = _CODE["truncated"], _CODE["bad_magic"], _CODE["bad_length"]
_CHUNK_LENGTH, _CHUNK_SIZE, _BAD_FAMILY = (_CODE["chunk_length"], _CODE["chunk_size"],
                                           _CODE["bad_family"])

# Fixed-size generic chunks (type, size), as decode._FIXED; their values land in ints[slot].
FIXED_TYPES = ((0x01, 1), (0x02, 1), (0x07, 2), (0x08, 2), (0x0B, 1), (0x0C, 4), (0x0D, 2),
               (0x12, 2), (0x14, 8), (0x15, 8), (0x16, 2), (0x17, 1), (0x18, 1), (0x20, 2),
               (0x21, 2), (0x23, 4), (0x27, 2), (0x28, 2))
# Variable chunks whose bytes are kept (as spans): payload, auth key, then the text chunks.
SPAN_TYPES = (0x0F, 0x0E, 0x11, 0x13, 0x22, 0x24, 0x25, 0x26, 0x29)
PAYLOAD, AUTH_KEY = 0, 1
_TEXT_FIRST = 2  # spans from here on must be UTF-8 (decode() reads them as text)

_SLOT = np.full(256, -1, dtype=np.int64)
_SIZE = np.zeros(256, dtype=np.int64)
for _slot, (_type, _size) in enumerate(FIXED_TYPES):
    _SLOT[_type], _SIZE[_type] = _slot, _size
_SPAN = np.full(256, -1, dtype=np.int64)
for _slot, _type in enumerate(SPAN_TYPES):
    _SPAN[_type] = _slot
_FAMILY, _PROTO, _SRC_PORT, _DST_PORT, _PROTO_TYPE, _CAPTURE_ID = (
    int(_SLOT[t]) for t in (0x01, 0x02, 0x07, 0x08, 0x0B, 0x0C))
_MAPPED = np.uint64(0xFFFF << 32)


@dataclass
class HepBatch:
    """Fields of n packets; `has[k]` says whether ints[k] was present, spans' length -1 means
    absent. ip_* rows: 0 source, 1 destination."""

    status: np.ndarray  # u8: OK, AUTH, SLOW or a REJECTED code
    version: np.ndarray  # u8
    ts: np.ndarray  # u64 microseconds
    from_arrival: np.ndarray  # u8
    proto_type: np.ndarray  # u8 (source)
    ints: np.ndarray  # u64 [len(FIXED_TYPES), n]
    has: np.ndarray  # u8 [len(FIXED_TYPES), n]
    ip_lo: np.ndarray  # u64 [2, n]
    ip_hi: np.ndarray  # u64 [2, n]
    span_start: np.ndarray  # i64 [len(SPAN_TYPES), n]
    span_length: np.ndarray  # i64 [len(SPAN_TYPES), n]
    vendor_chunks: np.ndarray  # u16
    payload_utf8: np.ndarray  # u8: 1 when the payload is valid UTF-8



@kernel
def _ascii(view: np.ndarray) -> bool:
    """No byte >= 0x80 (indexing a view from 0 lets the loop be vectorised)."""
    acc = np.uint8(0)
    for k in range(view.shape[0]):
        acc |= view[k]
    return acc < 128


@kernel
def utf8_valid(data: np.ndarray, start: int, end: int) -> bool:
    """True when data[start:end] is UTF-8 as Python's strict decoder accepts it."""
    if _ascii(data[start:end]):
        return True
    i = start
    while i < end:
        c = data[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            need, lo, hi = 1, 0x80, 0xBF
        elif 0xE0 <= c <= 0xEF:
            need = 2
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
        elif 0xF0 <= c <= 0xF4:
            need = 3
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF
        else:
            return False
        if i + need >= end:  # the sequence runs past the end
            return False
        b = data[i + 1]
        if b < lo or b > hi:
            return False
        for k in range(2, need + 1):
            b = data[i + k]
            if b < 0x80 or b > 0xBF:
                return False
        i += need + 1
    return True


@kernel
def _u16(data: np.ndarray, p: int) -> np.uint64:
    return np.uint64(data[p]) << np.uint64(8) | np.uint64(data[p + 1])


@kernel
def _be(data: np.ndarray, p: int, size: int) -> np.uint64:
    value = np.uint64(0)
    for k in range(size):
        value = value << np.uint64(8) | np.uint64(data[p + k])
    return value


@kernel
def _le32(data: np.ndarray, p: int) -> np.uint64:
    return (np.uint64(data[p]) | np.uint64(data[p + 1]) << np.uint64(8)
            | np.uint64(data[p + 2]) << np.uint64(16) | np.uint64(data[p + 3]) << np.uint64(24))


@kernel
def _decode_v3(data, a, n, i, out_status, ts, from_arrival, ints, has, ip_lo, ip_hi,
               span_start, span_length, vendor_chunks, arrival, slot, size, span) -> None:
    total = np.int64(_u16(data, a + 4))
    if total != n:
        out_status[i] = _BAD_LENGTH
        return
    seconds = np.uint64(0)
    micros = np.uint64(0)
    vendors = 0
    pos = 6
    while pos < total:
        if total - pos < 6:
            out_status[i] = _TRUNCATED
            return
        vendor = _u16(data, a + pos)
        ctype = np.int64(_u16(data, a + pos + 2))
        length = np.int64(_u16(data, a + pos + 4))
        if length < 6 or length > total - pos:
            out_status[i] = _CHUNK_LENGTH
            return
        body = a + pos + 6
        csize = length - 6
        pos += length
        if vendor != 0:
            vendors += 1
            continue
        if ctype > 255:
            continue
        k = slot[ctype]
        if k >= 0:
            if csize != size[ctype]:
                out_status[i] = _CHUNK_SIZE
                return
            ints[k, i] = _be(data, body, csize)
            has[k, i] = 1
        elif ctype == 0x03 or ctype == 0x04:
            if csize != 4:
                out_status[i] = _CHUNK_SIZE
                return
            side = ctype - 0x03
            ip_lo[side, i] = _MAPPED | _be(data, body, 4)
            ip_hi[side, i] = 0
        elif ctype == 0x05 or ctype == 0x06:
            if csize != 16:
                out_status[i] = _CHUNK_SIZE
                return
            side = ctype - 0x05
            ip_hi[side, i] = _be(data, body, 8)
            ip_lo[side, i] = _be(data, body + 8, 8)
        elif ctype == 0x09 or ctype == 0x0A:
            if csize != 4:
                out_status[i] = _CHUNK_SIZE
                return
            if ctype == 0x09:
                seconds = _be(data, body, 4)
            else:
                micros = _be(data, body, 4)
        elif ctype == 0x10:
            out_status[i] = SLOW  # compressed payload: decode() inflates it
            return
        else:
            s = span[ctype]
            if s >= 0:
                if s >= _TEXT_FIRST and not utf8_valid(data, body, body + csize):
                    out_status[i] = SLOW  # decode() reads it with replacement characters
                    return
                span_start[s, i] = body
                span_length[s, i] = csize
    vendor_chunks[i] = vendors
    if seconds == 0 and micros == 0:
        ts[i] = arrival[i]
        from_arrival[i] = 1
    else:
        ts[i] = seconds * np.uint64(1_000_000) + micros


@kernel
def _decode_v12(data, a, n, i, out_status, version, ts, from_arrival, ints, has, ip_lo, ip_hi,
                span_start, span_length, arrival, proto_type) -> None:
    v = data[a]
    family = data[a + 2]
    if family == 2:
        width = 4
    elif family == 10:
        width = 16
    else:
        out_status[i] = _BAD_FAMILY
        return
    start = 8 + 2 * width + (12 if v == 2 else 0)
    if n < start:
        out_status[i] = _TRUNCATED
        return
    version[i] = v
    ints[_FAMILY, i], has[_FAMILY, i] = family, 1
    ints[_PROTO, i], has[_PROTO, i] = data[a + 3], 1
    ints[_SRC_PORT, i], has[_SRC_PORT, i] = _u16(data, a + 4), 1
    ints[_DST_PORT, i], has[_DST_PORT, i] = _u16(data, a + 6), 1
    for side in range(2):
        p = a + 8 + side * width
        if width == 4:
            ip_lo[side, i] = _MAPPED | _be(data, p, 4)
        else:
            ip_hi[side, i] = _be(data, p, 8)
            ip_lo[side, i] = _be(data, p + 8, 8)
    proto_type[i] = 1
    stamped = False
    if v == 2:
        p = a + 8 + 2 * width
        seconds, micros = _le32(data, p), _le32(data, p + 4)
        ints[_CAPTURE_ID, i] = np.uint64(data[p + 8]) | np.uint64(data[p + 9]) << np.uint64(8)
        has[_CAPTURE_ID, i] = 1
        if seconds != 0 or micros != 0:
            ts[i] = seconds * np.uint64(1_000_000) + micros
            stamped = True
    if not stamped:
        ts[i] = arrival[i]
        from_arrival[i] = 1
    span_start[0, i] = a + start
    span_length[0, i] = n - start


@kernel
def _decode_all(data, starts, lengths, arrival, key, check_key, status, version, ts,
                from_arrival, proto_type, ints, has, ip_lo, ip_hi, span_start, span_length,
                vendor_chunks, payload_utf8, slot, size, span) -> None:
    for i in range(starts.shape[0]):
        a = starts[i]
        n = lengths[i]
        if n < 6:
            status[i] = _TRUNCATED
            continue
        m0, m1, m2, m3 = data[a], data[a + 1], data[a + 2], data[a + 3]
        if (m0 == 72 or m0 == 69) and m1 == 69 and m2 == 80 and m3 == 51:  # HEP3 / EEP3
            version[i] = 3
            _decode_v3(data, a, n, i, status, ts, from_arrival, ints, has, ip_lo, ip_hi,
                       span_start, span_length, vendor_chunks, arrival, slot, size, span)
            if status[i] == 0:
                proto_type[i] = ints[_PROTO_TYPE, i] if has[_PROTO_TYPE, i] else 0
        elif m0 == 1 or m0 == 2:
            _decode_v12(data, a, n, i, status, version, ts, from_arrival, ints, has, ip_lo,
                        ip_hi, span_start, span_length, arrival, proto_type)
        else:
            status[i] = _BAD_MAGIC
        if status[i] != 0:
            continue
        if check_key:
            s, k = span_start[1, i], span_length[1, i]
            same = k == key.shape[0]
            if same:
                for j in range(k):
                    if data[s + j] != key[j]:
                        same = False
                        break
            if not same:
                status[i] = AUTH
                continue
        if span_length[0, i] > 0:
            payload_utf8[i] = utf8_valid(data, span_start[0, i], span_start[0, i]
                                         + span_length[0, i])
        else:
            payload_utf8[i] = 1


def decode_batch(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                 arrival: np.ndarray, auth_key: bytes | None = None) -> HepBatch:
    """Decode packet i = data[starts[i]:starts[i] + lengths[i]] (arrival[i]: its arrival
    time, µs); with `auth_key`, packets that do not carry exactly that key get status AUTH."""
    n = len(starts)
    out = HepBatch(
        status=np.zeros(n, np.uint8), version=np.zeros(n, np.uint8), ts=np.zeros(n, np.uint64),
        from_arrival=np.zeros(n, np.uint8), proto_type=np.zeros(n, np.uint8),
        ints=np.zeros((len(FIXED_TYPES), n), np.uint64),
        has=np.zeros((len(FIXED_TYPES), n), np.uint8),
        ip_lo=np.zeros((2, n), np.uint64), ip_hi=np.zeros((2, n), np.uint64),
        span_start=np.zeros((len(SPAN_TYPES), n), np.int64),
        span_length=np.full((len(SPAN_TYPES), n), -1, np.int64),
        vendor_chunks=np.zeros(n, np.uint16), payload_utf8=np.zeros(n, np.uint8))
    key = np.frombuffer(auth_key or b"", np.uint8)
    _decode_all(data, starts, lengths, arrival, key, auth_key is not None, out.status,
                out.version,
                out.ts, out.from_arrival, out.proto_type, out.ints, out.has, out.ip_lo,
                out.ip_hi, out.span_start, out.span_length, out.vendor_chunks,
                out.payload_utf8, _SLOT, _SIZE, _SPAN)
    return out
