"""128-bit addresses as SQL users read them: text (IPv4-mapped addresses as dotted quads, IPv6
in RFC 5952 form), the IPv4 address as a number, and 16 big-endian bytes (which sort and
compare like the addresses). Formatting runs in a kernel: an export formats millions."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from hyena.kernels._jit import kernel

__all__ = ["address_columns"]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MAPPED = np.uint64(0xFFFF00000000)


@kernel
def _write_decimal(value: int, out: np.ndarray, pos: int) -> int:
    if value >= 100:
        out[pos] = 48 + value // 100
        pos += 1
    if value >= 10:
        out[pos] = 48 + (value // 10) % 10
        pos += 1
    out[pos] = 48 + value % 10
    return pos + 1


@kernel
def _format(lo: np.ndarray, hi: np.ndarray, hexdigits: np.ndarray, offsets: np.ndarray,
            out: np.ndarray) -> None:
    pos = 0
    offsets[0] = 0
    groups = np.empty(8, dtype=np.int64)
    for i in range(lo.shape[0]):
        if hi[i] == 0 and (lo[i] >> np.uint64(32)) == np.uint64(0xFFFF):
            v = lo[i] & np.uint64(0xFFFFFFFF)
            for k in range(4):
                octet = np.int64((v >> np.uint64(24 - 8 * k)) & np.uint64(0xFF))
                pos = _write_decimal(octet, out, pos)
                if k < 3:
                    out[pos] = 46  # '.'
                    pos += 1
        else:
            for g in range(4):
                groups[g] = np.int64((hi[i] >> np.uint64(48 - 16 * g)) & np.uint64(0xFFFF))
                groups[4 + g] = np.int64((lo[i] >> np.uint64(48 - 16 * g)) & np.uint64(0xFFFF))
            # the longest run (2 or more) of zero groups becomes "::" (RFC 5952)
            best, best_len, run, run_len = -1, 1, -1, 0
            for g in range(8):
                if groups[g] == 0:
                    if run_len == 0:
                        run = g
                    run_len += 1
                    if run_len > best_len:
                        best, best_len = run, run_len
                else:
                    run_len = 0
            g = 0
            while g < 8:
                if g == best:
                    out[pos] = 58
                    out[pos + 1] = 58
                    pos += 2
                    g += best_len
                    continue
                if g > 0 and g != best + best_len:
                    out[pos] = 58  # ':'
                    pos += 1
                value = groups[g]
                started = False
                for shift in (12, 8, 4, 0):
                    digit = (value >> shift) & 15
                    if digit or started or shift == 0:
                        out[pos] = hexdigits[digit]
                        pos += 1
                        started = True
                g += 1
        offsets[i + 1] = pos


def address_columns(values: pa.Array, name: str) -> dict[str, pa.Array]:
    """`name` (text), `name_v4` (uint32, null unless IPv4) and `name_raw` (binary(16), big
    endian) from a hyena u128 column (binary(16), little endian)."""
    n = len(values)
    raw = np.frombuffer(values.buffers()[1], dtype=np.uint64, count=2 * n,
                        offset=values.offset * 16).reshape(n, 2) if n else \
        np.empty((0, 2), dtype=np.uint64)
    lo, hi = np.ascontiguousarray(raw[:, 0]), np.ascontiguousarray(raw[:, 1])
    offsets = np.empty(n + 1, dtype=np.int32)
    out = np.empty(n * 39, dtype=np.uint8)
    _format(lo, hi, _HEX, offsets, out)
    text = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                 pa.py_buffer(out[:offsets[-1]].copy())])
    is_v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
    v4 = pa.array((lo & np.uint64(0xFFFFFFFF)).astype(np.uint32), mask=~is_v4)
    big_endian = np.empty((n, 2), dtype=">u8")
    big_endian[:, 0] = hi
    big_endian[:, 1] = lo
    raw16 = pa.Array.from_buffers(pa.binary(16), n, [None, pa.py_buffer(big_endian)])
    if values.null_count:
        validity = values.is_valid()
        text = pa.compute.if_else(validity, text, pa.scalar(None, pa.string()))
        raw16 = pa.compute.if_else(validity, raw16, pa.scalar(None, pa.binary(16)))
    return {name: text, f"{name}_v4": v4, f"{name}_raw": raw16}
