"""What a scan asks for, validated: time range, sources, partitions, projection, filters.

Filters are an OR of AND-groups. Each filter is `(column, op, value)`; ops are numbered as the
wire protocol's ScanComparison. Everything a user can get wrong is checked here and raised as
InvalidScanError before any data is touched.
"""
from __future__ import annotations

import enum
import functools
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from hyena.errors import InvalidScanError, UnknownColumnError
from hyena.types import MAX_TIMESTAMP, SOURCE_COLUMN, Column

__all__ = ["Op", "Filter", "ScanSpec", "make_spec", "parse_filters", "spec_column"]

TS_END = 1 << 64  # the default exclusive upper bound: every timestamp is below it


class Op(enum.IntEnum):
    LT = 0
    LE = 1
    EQ = 2
    GE = 3
    GT = 4
    NE = 5
    IN = 6
    STARTS_WITH = 7
    ENDS_WITH = 8
    CONTAINS = 9
    MATCHES = 10

    @classmethod
    def parse(cls, op: "Op | str | int") -> "Op":
        if isinstance(op, Op):
            return op
        if isinstance(op, int) and not isinstance(op, bool):
            try:
                return cls(op)
            except ValueError:
                pass
        elif isinstance(op, str):
            found = _OP_NAMES.get(op.strip().lower())
            if found is not None:
                return found
        raise InvalidScanError("unknown filter operator", op=repr(op),
                               known="< <= == >= > != in starts_with ends_with contains matches")


_OP_NAMES = {"<": Op.LT, "lt": Op.LT, "<=": Op.LE, "le": Op.LE, "==": Op.EQ, "=": Op.EQ,
             "eq": Op.EQ, ">=": Op.GE, "ge": Op.GE, ">": Op.GT, "gt": Op.GT, "!=": Op.NE,
             "<>": Op.NE, "ne": Op.NE, "in": Op.IN, "starts_with": Op.STARTS_WITH,
             "startswith": Op.STARTS_WITH, "ends_with": Op.ENDS_WITH,
             "endswith": Op.ENDS_WITH, "contains": Op.CONTAINS, "matches": Op.MATCHES,
             "regex": Op.MATCHES}
STRING_ONLY = (Op.STARTS_WITH, Op.ENDS_WITH, Op.CONTAINS, Op.MATCHES)
BLOOM_OPS = frozenset({Op.EQ, Op.IN, Op.STARTS_WITH, Op.ENDS_WITH, Op.CONTAINS})  # on strings


@dataclass(frozen=True)
class Filter:
    """One validated condition. `value` is an int, UTF-8 bytes, a sorted tuple of either (IN),
    or a compiled pattern (MATCHES)."""

    column: Column
    op: Op
    value: Any

    def __repr__(self) -> str:
        return f"Filter({self.column.name} {self.op.name} {self.value!r})"


@dataclass(frozen=True)
class ScanSpec:
    min_ts: int
    max_ts: int
    sources: frozenset[int] | None
    partition_ids: frozenset[uuid.UUID] | None
    columns: tuple[Column, ...]
    groups: tuple[tuple[Filter, ...], ...]  # () = no filter; a group () = every row

    @functools.cached_property
    def unfiltered(self) -> bool:  # asked once per partition
        return not self.groups or any(len(g) == 0 for g in self.groups)

    @functools.cached_property
    def column_ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.columns)

    @functools.cached_property
    def filter_columns(self) -> tuple[tuple[int, bool], ...]:
        """(column id, whether a bloom filter can decide every filter on it) per column the
        filters read (not `source`), for read-ahead."""
        out: dict[int, bool] = {}
        for group in self.groups:
            for flt in group:
                if flt.column.id != SOURCE_COLUMN:
                    out[flt.column.id] = out.get(flt.column.id, True) and flt.op in BLOOM_OPS
        return tuple(out.items())


def make_spec(resolve: Callable[[Any], Column], all_columns: list[Column], *,
              min_ts: int = 0, max_ts: int = TS_END, sources: Iterable[int] | None = None,
              partitions: Iterable[Any] | None = None, columns: Iterable[Any] | None = None,
              filters: Any = None) -> ScanSpec:
    """Validate a scan request; raise InvalidScanError on anything malformed."""
    lo = _timestamp(min_ts, "min_ts")
    hi = _timestamp(max_ts, "max_ts")
    if lo > hi:
        raise InvalidScanError("min_ts > max_ts", min_ts=lo, max_ts=hi)
    source_set = None
    if sources is not None:
        if isinstance(sources, (int, np.integer)):
            sources = [sources]
        source_set = frozenset(_source(s) for s in sources)
    ids = None
    if partitions is not None:
        ids = frozenset(_partition_id(p) for p in partitions)
    if columns is None:
        projection = tuple(all_columns)
    else:
        if isinstance(columns, (str, int)):
            columns = [columns]
        projection = tuple(_column(resolve, c) for c in columns)
        if not projection:
            raise InvalidScanError("projection cannot be empty (leave it out for every column)")
    return ScanSpec(lo, hi, source_set, ids, projection, parse_filters(resolve, filters))


def parse_filters(resolve: Callable[[Any], Column], filters: Any) -> tuple[tuple[Filter, ...], ...]:
    """Accept None, one AND-group `[(col, op, value), ...]` or groups `[[...], [...]]`."""
    if filters is None:
        return ()
    if isinstance(filters, tuple) and len(filters) == 3 and not isinstance(filters[0], (list,
                                                                                        tuple)):
        filters = [filters]
    filters = list(filters)
    if not filters:
        return ()
    if all(_is_condition(f) for f in filters):
        groups = [filters]
    elif all(isinstance(g, (list, tuple)) and all(_is_condition(f) for f in g)
             for g in filters):
        groups = filters
    else:
        raise InvalidScanError("filters must be (column, op, value) tuples, or a list of such "
                               "lists (an OR of AND-groups)")
    return tuple(tuple(_filter(resolve, *f) for f in group) for group in groups)


def _is_condition(item: Any) -> bool:
    return isinstance(item, tuple) and len(item) == 3 and isinstance(item[0], (str, int, Column))


def _filter(resolve: Callable[[Any], Column], key: Any, op: Any, value: Any) -> Filter:
    column = _column(resolve, key)
    op = Op.parse(op)
    ctype = column.type
    if ctype.is_string:
        if op == Op.IN:
            values = _collection(value, column)
            return Filter(column, op, tuple(sorted({_text(v, column) for v in values})))
        if op == Op.MATCHES:
            return Filter(column, op, _regex(value, column))
        return Filter(column, op, _text(value, column))
    if op in STRING_ONLY:
        raise InvalidScanError("string operator on an integer column", column=column.name,
                               op=op.name.lower())
    if op == Op.IN:
        values = _collection(value, column)
        return Filter(column, op, tuple(sorted({_integer(v, column) for v in values})))
    return Filter(column, op, _integer(value, column))


def spec_column(resolve: Callable[[Any], Column], key: Any) -> Column:
    """A column named in a scan request (InvalidScanError when there is none)."""
    return _column(resolve, key)


def _column(resolve: Callable[[Any], Column], key: Any) -> Column:
    try:
        return resolve(key)
    except UnknownColumnError as exc:
        raise InvalidScanError("unknown column", column=key) from exc


def _integer(value: Any, column: Column) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidScanError("filter value does not match the column type",
                               column=column.name, type=column.type.label,
                               value=repr(value)[:40])
    return int(value)


def _text(value: Any, column: Column) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode()
        except UnicodeEncodeError as exc:
            raise InvalidScanError("filter value is not valid text", column=column.name) from exc
    raise InvalidScanError("filter value does not match the column type", column=column.name,
                           type=column.type.label, value=repr(value)[:40])


def _collection(value: Any, column: Column) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidScanError("'in' takes a collection of values", column=column.name)
    values = list(value)
    if not values:
        raise InvalidScanError("'in' needs at least one value", column=column.name)
    return values


def _regex(value: Any, column: Column) -> "re.Pattern[str]":
    if not isinstance(value, str):
        raise InvalidScanError("'matches' takes a regular expression string",
                               column=column.name)
    try:
        return re.compile(value)
    except re.error as exc:
        raise InvalidScanError(f"bad regular expression: {exc}", column=column.name,
                               pattern=value) from exc


def _timestamp(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or not 0 <= int(value) <= TS_END:
        raise InvalidScanError(f"{name} must be an integer in 0..2**64", value=value)
    return int(value)


def _source(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or not 0 <= int(value) < 1 << 32:
        raise InvalidScanError("a source is an integer in 0..2**32-1", source=value)
    return int(value)


def _partition_id(value: Any) -> uuid.UUID:
    try:
        if isinstance(value, uuid.UUID):
            return value
        if isinstance(value, (bytes, bytearray)) and len(value) == 16:
            return uuid.UUID(bytes=bytes(value))
        if isinstance(value, str):
            return uuid.UUID(value)
    except ValueError:
        pass
    raise InvalidScanError("a partition id is a UUID, its string or 16 bytes",
                           partition=repr(value)[:60])


# The calendar limit of timestamps; scans clamp their upper bound to it for the kernels.
TS_LIMIT = MAX_TIMESTAMP + 1
