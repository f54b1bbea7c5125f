"""bincode 0.9 (serde's default configuration): little endian, fixed-width integers, u64
lengths, u32 enum tags, u8 option tags. The layer every Hyena wire message is written in.

The Reader is written for hostile input: every length is checked against the bytes left
before anything is allocated, and every failure is a DecodeError saying what and where.
Numeric vectors are read and written with numpy, strings in bulk by kernels.

Both sides avoid copies of big messages: the Reader works on bytes or a memoryview without
copying it (and `view` hands out slices of it), the Writer keeps numpy arrays as they are and
joins everything once, in `getvalue`, optionally behind an envelope header.
"""
from __future__ import annotations

import struct

import numpy as np

from hyena.errors import DecodeError
from hyena.kernels.wire import decode_string_vec, encode_string_vec, utf8_error_offset

__all__ = ["Reader", "Writer"]

_U8, _U16, _U32, _U64 = (struct.Struct(f) for f in ("<B", "<H", "<I", "<Q"))
_I8, _I16, _I32, _I64 = (struct.Struct(f) for f in ("<b", "<h", "<i", "<q"))


def _buffer(data: bytes | bytearray | memoryview) -> bytes | memoryview:
    """`data` as an immutable flat byte buffer, copied only when it could change under us."""
    if type(data) is bytes:
        return data
    if isinstance(data, memoryview) and data.readonly:
        return data if data.format == "B" and data.ndim == 1 else data.cast("B")
    return bytes(data)


class Reader:
    """Reads values in order from one message."""

    __slots__ = ("data", "pos", "size", "_pool", "_pool_used")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = _buffer(data)
        self.size = len(self.data)
        self.pos = 0
        self._pool: np.ndarray | None = None  # where every string vector's bytes go
        self._pool_used = 0

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def _short(self, n: int, what: str) -> DecodeError:
        return DecodeError(f"message ends inside {what}", offset=self.pos, needed=n,
                           left=self.size - self.pos)

    def _take(self, n: int, what: str) -> int:
        start = self.pos
        if n > self.size - start:
            raise self._short(n, what)
        self.pos = start + n
        return start

    def _int(self, fmt: struct.Struct, what: str) -> int:
        start = self.pos
        if fmt.size > self.size - start:
            raise self._short(fmt.size, what)
        self.pos = start + fmt.size
        return fmt.unpack_from(self.data, start)[0]

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
        value = self._int(_U8, what)
        if value > 1:
            raise DecodeError(f"invalid bool in {what}", offset=self.pos - 1, value=value)
        return bool(value)

    def tag(self, what: str, limit: int) -> int:
        """An enum variant index below `limit`."""
        value = self._int(_U32, what)
        if value >= limit:
            raise DecodeError(f"unknown variant of {what}", offset=self.pos - 4, tag=value)
        return value

    def option(self, what: str) -> bool:
        """True when an Option is Some (its value follows)."""
        value = self._int(_U8, what)
        if value > 1:
            raise DecodeError(f"invalid option tag in {what}", offset=self.pos - 1, tag=value)
        return value == 1

    def length(self, what: str, element_size: int) -> int:
        """A Vec/String length, refused when the elements cannot fit in what is left."""
        n = self._int(_U64, what)
        if n * max(element_size, 1) > self.size - self.pos:
            raise DecodeError(f"{what} claims more elements than the message holds",
                              offset=self.pos - 8, length=n, left=self.size - self.pos)
        return n

    def string(self, what: str = "string") -> str:
        n = self.length(what, 1)
        start = self.pos
        self.pos = start + n
        try:
            return str(self.data[start:start + n], "utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"{what} is not valid UTF-8", offset=start + exc.start) from None

    def raw(self, n: int, what: str) -> bytes:
        start = self._take(n, what)
        return bytes(self.data[start:start + n])

    def view(self, n: int, what: str) -> memoryview:
        """The next `n` bytes as a read-only view of the message (no copy)."""
        start = self._take(n, what)
        return memoryview(self.data)[start:start + n]

    def array(self, dtype: np.dtype, what: str) -> np.ndarray:
        """A Vec of fixed-width numbers (or 16-byte integers as V16), copied out (aligned and
        writable, whatever the message's layout)."""
        dtype = np.dtype(dtype)
        n = self.length(what, dtype.itemsize)
        start = self._take(n * dtype.itemsize, what)
        return np.frombuffer(self.data, dtype=dtype, count=n, offset=start).copy()

    def strings(self, what: str) -> tuple[np.ndarray, np.ndarray]:
        """A Vec<String> as (offsets with n + 1 entries, uint8 UTF-8 bytes). The offsets are
        int32 when the message is below 2 GiB (as Arrow's `string` wants them), else int64.

        The bytes go, in one pass, into a pool shared by all the message's string vectors
        (allocated once, as large as the rest of the message, which they cannot exceed): a
        pass to size each vector first would jump through the message from length to
        length, a cache miss each."""
        n = self.length(what, 8)  # every string costs at least its 8-byte length
        wide = self.size >= 1 << 31
        offsets = np.empty(n + 1, dtype=np.int64 if wide else np.int32)
        if n == 0:
            offsets[0] = 0
            return offsets, np.empty(0, np.uint8)
        if self._pool is None:
            self._pool = np.empty(self.size - self.pos, dtype=np.uint8)
        raw = np.frombuffer(self.data, dtype=np.uint8)
        out = self._pool[self._pool_used:]
        end = decode_string_vec(raw, self.pos, n, offsets, out)
        if end < 0:
            raise DecodeError(f"message ends inside {what}", offset=-end)
        out = out[:offsets[-1]]
        bad = utf8_error_offset(out)
        if bad >= 0:
            raise DecodeError(f"{what} is not valid UTF-8", offset=self.pos, byte=bad)
        self.pos = end
        self._pool_used += len(out)
        return offsets, out


class Writer:
    """Appends values to one message; `getvalue` joins them (once)."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list = []  # bytes and C-contiguous numpy arrays, in order
        self.size = 0  # bytes so far

    def getvalue(self, header: bytes = b"") -> bytes:
        """The message, behind `header` (an envelope) when one is given."""
        if header:
            return b"".join([header, *self.parts])
        return b"".join(self.parts)

    def _add(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)

    def u8(self, v: int) -> None:
        self._add(_U8.pack(v))

    def u16(self, v: int) -> None:
        self._add(_U16.pack(v))

    def u32(self, v: int) -> None:
        self._add(_U32.pack(v))

    def u64(self, v: int) -> None:
        self._add(_U64.pack(v))

    def i8(self, v: int) -> None:
        self._add(_I8.pack(v))

    def i16(self, v: int) -> None:
        self._add(_I16.pack(v))

    def i32(self, v: int) -> None:
        self._add(_I32.pack(v))

    def i64(self, v: int) -> None:
        self._add(_I64.pack(v))

    def u128(self, v: int) -> None:
        self._add(v.to_bytes(16, "little"))

    def i128(self, v: int) -> None:
        self._add(v.to_bytes(16, "little", signed=True))

    def bool(self, v: bool) -> None:
        self._add(b"\x01" if v else b"\x00")

    def tag(self, v: int) -> None:
        self._add(_U32.pack(v))

    def option(self, present: bool) -> None:
        self._add(b"\x01" if present else b"\x00")

    def string(self, v: str) -> None:
        data = v.encode("utf-8")
        self._add(_U64.pack(len(data)))
        self._add(data)

    def raw(self, data: bytes | memoryview) -> None:
        if type(data) is not bytes:
            if not (isinstance(data, memoryview) and data.readonly and data.format == "B"):
                data = bytes(data)  # a mutable buffer could change before getvalue
        self.parts.append(data)
        self.size += len(data)

    def array(self, values: np.ndarray, dtype: np.dtype) -> None:
        values = np.ascontiguousarray(values, dtype=dtype)
        self._add(_U64.pack(len(values)))
        if values.nbytes:
            self.parts.append(values)  # joined as is in getvalue: no copy here
            self.size += values.nbytes

    def strings(self, offsets: np.ndarray, data: np.ndarray) -> None:
        """A Vec<String> from offsets (n + 1, any start) and the UTF-8 bytes they index."""
        n = len(offsets) - 1
        self._add(_U64.pack(n))
        if n <= 0:
            return
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        out = np.empty(8 * n + int(offsets[-1] - offsets[0]), dtype=np.uint8)
        encode_string_vec(offsets, np.ascontiguousarray(data, dtype=np.uint8), out)
        self.parts.append(out)
        self.size += out.nbytes
