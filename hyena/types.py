"""Column types shared by the engine, the on-disk format and the wire protocol.

The numbering is the wire protocol's `BlockType` (see docs/protocol.md): the engine stores these
numbers in the catalog, so a type means the same thing on disk and on the wire. `STRING_SPARSE`
(21) is our extension: the original protocol has no nullable string.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = ["ColumnType", "Column", "TS_COLUMN", "SOURCE_COLUMN", "MAX_TIMESTAMP"]

# Timestamps above this (year 262143, the calendar limit of the original engine) are rejected.
MAX_TIMESTAMP = 8_210_298_326_400_000_000

# Reserved column ids.
TS_COLUMN = 0
SOURCE_COLUMN = 1


class ColumnType(enum.IntEnum):
    """Storage type of a column: element kind and width, dense (never null) or sparse (nullable)."""

    I8_DENSE = 0
    I16_DENSE = 1
    I32_DENSE = 2
    I64_DENSE = 3
    I128_DENSE = 4
    U8_DENSE = 5
    U16_DENSE = 6
    U32_DENSE = 7
    U64_DENSE = 8
    U128_DENSE = 9
    STRING_DENSE = 10
    I8_SPARSE = 11
    I16_SPARSE = 12
    I32_SPARSE = 13
    I64_SPARSE = 14
    I128_SPARSE = 15
    U8_SPARSE = 16
    U16_SPARSE = 17
    U32_SPARSE = 18
    U64_SPARSE = 19
    U128_SPARSE = 20
    STRING_SPARSE = 21

    # Scans ask these for every column of every partition: plain ints and sets, because
    # looking a member up on the enum class (ColumnType.X) costs ~0.3 µs each time.
    @property
    def is_sparse(self) -> bool:
        return self >= 11  # I8_SPARSE

    @property
    def is_string(self) -> bool:
        return self in _STRING_TYPES

    @property
    def is_int128(self) -> bool:
        return self in _INT128_TYPES

    @property
    def base(self) -> str:
        """Element kind without density: 'i8'..'u128' or 'string'."""
        return _BASE[self]

    @property
    def width(self) -> int:
        """Bytes per stored element (a string stores a 4-byte offset per row in its block)."""
        return _WIDTH[self.base]

    @property
    def signed(self) -> bool:
        return self.base.startswith("i")

    @property
    def dtype(self) -> np.dtype:
        """numpy dtype of one stored element (128-bit: 16 raw bytes, see `int128`)."""
        return _DTYPE[self.base]

    @property
    def dense(self) -> "ColumnType":
        if not self.is_sparse:
            return self
        return ColumnType.STRING_DENSE if self.is_string else ColumnType(self - 11)

    @property
    def sparse(self) -> "ColumnType":
        if self.is_sparse:
            return self
        return ColumnType.STRING_SPARSE if self.is_string else ColumnType(self + 11)

    @property
    def int_range(self) -> tuple[int, int]:
        """Smallest and largest value of an integer type."""
        if self.is_string:
            raise TypeError(f"{self.name} is not an integer type")
        bits = self.width * 8
        return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if self.signed else (0, (1 << bits) - 1)

    @property
    def label(self) -> str:
        """Short name used in docs, errors and `parse`: 'u16', 'u16_sparse', 'string'..."""
        return self.base + ("_sparse" if self.is_sparse else "")

    @classmethod
    def parse(cls, spec: "ColumnType | str | int") -> "ColumnType":
        """Accept a ColumnType, its wire number, its enum name or a label like 'i32_sparse'."""
        if isinstance(spec, ColumnType):
            return spec
        if isinstance(spec, int) and not isinstance(spec, bool):
            return cls(spec)
        if isinstance(spec, str):
            key = spec.strip().lower().replace(" ", "_").replace("-", "_")
            if key.upper() in cls.__members__:
                return cls[key.upper()]
            for member in cls:
                if member.label == key or (key == member.base and not member.is_sparse):
                    return member
            if key.endswith("?") and (key[:-1] + "_sparse") in _LABELS:
                return _LABELS[key[:-1] + "_sparse"]
        raise ValueError(f"unknown column type {spec!r}; use e.g. 'u16', 'i128_sparse', 'string'")


_BASE = {}
for _t in ColumnType:
    _name = _t.name.split("_")[0].lower()
    _BASE[_t] = _name
_WIDTH = {"i8": 1, "u8": 1, "i16": 2, "u16": 2, "i32": 4, "u32": 4, "i64": 8, "u64": 8,
          "i128": 16, "u128": 16, "string": 4}
_DTYPE = {"i8": np.dtype("<i1"), "u8": np.dtype("<u1"), "i16": np.dtype("<i2"),
          "u16": np.dtype("<u2"), "i32": np.dtype("<i4"), "u32": np.dtype("<u4"),
          "i64": np.dtype("<i8"), "u64": np.dtype("<u8"), "i128": np.dtype("V16"),
          "u128": np.dtype("V16"), "string": np.dtype("<u4")}
_LABELS = {t.label: t for t in ColumnType}
_STRING_TYPES = frozenset({ColumnType.STRING_DENSE, ColumnType.STRING_SPARSE})
_INT128_TYPES = frozenset({ColumnType.I128_DENSE, ColumnType.U128_DENSE, ColumnType.I128_SPARSE,
                           ColumnType.U128_SPARSE})


@dataclass(frozen=True)
class Column:
    """A column of the hypertable: id (0 = ts, 1 = source, then user columns), name and type."""

    id: int
    name: str
    type: ColumnType
