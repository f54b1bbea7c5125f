"""bincode 0.9 (serde's default configuration): little endian, fixed-width integers, u64
lengths, u32 enum tags, u8 option tags. The layer every Hyena wire message is written in.

The Reader is written for hostile input: every length is checked against the bytes left
before anything is allocated, and every failure is a DecodeError saying what and where.
Numeric vectors are read and written with numpy, strings in bulk by kernels.
"""
from __future__ import annotations

import struct

import numpy as np

from hyena.errors import DecodeError
from hyena.kernels.wire import decode_string_vec, encode_string_vec, utf8_error_offset

__all__ = ["Reader", "Writer"]

_U8, _U16, _U32, _U64 = (struct.Struct(f) for f in ("<B", "<H", "<I", "<Q"))
_I8, _I16, _I32, _I64 = (struct.Struct(f) for f in ("<b", "<h", "<i", "<q"))


class Reader:
    """Reads values in order from one message."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = bytes(data)
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _take(self, n: int, what: str) -> int:
        if n > len(self.data) - self.pos:
            raise DecodeError(f"message ends inside {what}", offset=self.pos,
                              needed=n, left=len(self.data) - self.pos)
        start = self.pos
        self.pos += n
        return start

    def _int(self, fmt: struct.Struct, what: str) -> int:
        return fmt.unpack_from(self.data, self._take(fmt.size, what))[0]

    def u8(self, what: str = "u8") -> int:
        return self._int(_U8, what)

    def u16(self, what: str = "u16") -> int:
        return self._int(_U16, what)

    def u32(self, what: str = "u32") -> int:
        return self._int(_U32, what)

    def u64(self, what: str = "u64") -> int:
        return self._int(_U64, what)

    def i8(self, what: str = "i8") -> int:
        return self._int(_I8, what)

    def i16(self, what: str = "i16") -> int:
        return self._int(_I16, what)

    def i32(self, what: str = "i32") -> int:
        return self._int(_I32, what)

    def i64(self, what: str = "i64") -> int:
        return self._int(_I64, what)

    def u128(self, what: str = "u128") -> int:
        start = self._take(16, what)
        return int.from_bytes(self.data[start:start + 16], "little")

    def i128(self, what: str = "i128") -> int:
        start = self._take(16, what)
        return int.from_bytes(self.data[start:start + 16], "little", signed=True)

    def bool(self, what: str = "bool") -> bool:
        value = self.u8(what)
        if value > 1:
            raise DecodeError(f"invalid bool in {what}", offset=self.pos - 1, value=value)
        return bool(value)

    def tag(self, what: str, limit: int) -> int:
        """An enum variant index below `limit`."""
        value = self.u32(what)
        if value >= limit:
            raise DecodeError(f"unknown variant of {what}", offset=self.pos - 4, tag=value)
        return value

    def option(self, what: str) -> bool:
        """True when an Option is Some (its value follows)."""
        value = self.u8(what)
        if value > 1:
            raise DecodeError(f"invalid option tag in {what}", offset=self.pos - 1, tag=value)
        return value == 1

    def length(self, what: str, element_size: int) -> int:
        """A Vec/String length, refused when the elements cannot fit in what is left."""
        n = self.u64(what)
        if n * max(element_size, 1) > len(self.data) - self.pos:
            raise DecodeError(f"{what} claims more elements than the message holds",
                              offset=self.pos - 8, length=n, left=len(self.data) - self.pos)
        return n

    def string(self, what: str = "string") -> str:
        n = self.length(what, 1)
        start = self._take(n, what)
        try:
            return self.data[start:start + n].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"{what} is not valid UTF-8", offset=start + exc.start) from None

    def raw(self, n: int, what: str) -> bytes:
        start = self._take(n, what)
        return self.data[start:start + n]

    def array(self, dtype: np.dtype, what: str) -> np.ndarray:
        """A Vec of fixed-width numbers (or 16-byte integers as V16), copied out."""
        dtype = np.dtype(dtype)
        n = self.length(what, dtype.itemsize)
        start = self._take(n * dtype.itemsize, what)
        return np.frombuffer(self.data, dtype=dtype, count=n, offset=start).copy()

    def strings(self, what: str) -> tuple[np.ndarray, np.ndarray]:
        """A Vec<String> as (int64 offsets with n + 1 entries, uint8 UTF-8 bytes)."""
        n = self.length(what, 8)  # every string costs at least its 8-byte length
        raw = np.frombuffer(self.data, dtype=np.uint8)
        offsets = np.empty(n + 1, dtype=np.int64)
        out = np.empty(len(self.data) - self.pos, dtype=np.uint8)
        end = decode_string_vec(raw, self.pos, n, offsets, out)
        if end < 0:
            raise DecodeError(f"message ends inside {what}", offset=-end)
        bad = utf8_error_offset(out[:offsets[-1]])
        if bad >= 0:
            raise DecodeError(f"{what} is not valid UTF-8", offset=self.pos, byte=bad)
        self.pos = end
        return offsets, out[:offsets[-1]]


class Writer:
    """Appends values to one message."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def getvalue(self) -> bytes:
        return b"".join(self.parts)

    def u8(self, v: int) -> None:
        self.parts.append(_U8.pack(v))

    def u16(self, v: int) -> None:
        self.parts.append(_U16.pack(v))

    def u32(self, v: int) -> None:
        self.parts.append(_U32.pack(v))

    def u64(self, v: int) -> None:
        self.parts.append(_U64.pack(v))

    def i8(self, v: int) -> None:
        self.parts.append(_I8.pack(v))

    def i16(self, v: int) -> None:
        self.parts.append(_I16.pack(v))

    def i32(self, v: int) -> None:
        self.parts.append(_I32.pack(v))

    def i64(self, v: int) -> None:
        self.parts.append(_I64.pack(v))

    def u128(self, v: int) -> None:
        self.parts.append(v.to_bytes(16, "little"))

    def i128(self, v: int) -> None:
        self.parts.append(v.to_bytes(16, "little", signed=True))

    def bool(self, v: bool) -> None:
        self.parts.append(b"\x01" if v else b"\x00")

    def tag(self, v: int) -> None:
        self.u32(v)

    def option(self, present: bool) -> None:
        self.u8(1 if present else 0)

    def string(self, v: str) -> None:
        data = v.encode("utf-8")
        self.u64(len(data))
        self.parts.append(data)

    def raw(self, data: bytes) -> None:
        self.parts.append(bytes(data))

    def array(self, values: np.ndarray, dtype: np.dtype) -> None:
        values = np.ascontiguousarray(values, dtype=dtype)
        self.u64(len(values))
        self.parts.append(values.tobytes())

    def strings(self, offsets: np.ndarray, data: np.ndarray) -> None:
        """A Vec<String> from offsets (n + 1, any start) and the UTF-8 bytes they index."""
        n = len(offsets) - 1
        self.u64(n)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        total = int(offsets[-1] - offsets[0]) if n else 0
        out = np.empty(8 * n + total, dtype=np.uint8)
        encode_string_vec(offsets, np.ascontiguousarray(data, dtype=np.uint8), out)
        self.parts.append(out.tobytes())
