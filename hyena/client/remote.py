"""`RemoteDatabase`: the embedded `Database` API, over the wire, so code switches between
embedded and remote by changing `hyena.open(path)` to `hyena.client.connect(url)`.

Appends are validated here exactly as the embedded engine validates them (the same code), then
sent as an Insert. Scans send what the protocol can carry; `in` with several values becomes an
OR of groups (a wire filter holds one value). `count` runs a scan of `ts` and counts on the
client, because the protocol has no aggregate request.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import uuid
from collections import Counter
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa

from hyena.engine.batch import ColumnValues, make_batch
from hyena.engine.database import PartitionInfo
from hyena.engine.scan.request import TS_END, Filter, Op, make_spec, spec_column
from hyena.engine.scan.result import arrow_type
from hyena.errors import (ColumnExistsError, ColumnNameError, IndexExistsError,
                          InvalidDataError, InvalidScanError, RemoteError, ScanError,
                          UnknownColumnError)
from hyena.protocol import messages as m
from hyena.client.connection import Connection, Pending
from hyena.types import Column, ColumnType

__all__ = ["RemoteDatabase", "PendingAppend", "connect", "result_table"]

_FILTER_OPS = {Op.LT: m.ScanComparison.LT, Op.LE: m.ScanComparison.LT_EQ,
               Op.EQ: m.ScanComparison.EQ, Op.GE: m.ScanComparison.GT_EQ,
               Op.GT: m.ScanComparison.GT, Op.NE: m.ScanComparison.NOT_EQ,
               Op.STARTS_WITH: m.ScanComparison.STARTS_WITH,
               Op.ENDS_WITH: m.ScanComparison.ENDS_WITH, Op.CONTAINS: m.ScanComparison.CONTAINS,
               Op.MATCHES: m.ScanComparison.MATCHES}
_INT_VARIANTS = ("i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128")


def connect(url: str = "ipc:///tmp/hyena.ipc", timeout: float = 60.0) -> "RemoteDatabase":
    """Open a session with a Hyena server (`ipc://...`, `tcp://host:port`, `ws://...`)."""
    return RemoteDatabase(url, timeout)


class RemoteDatabase:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url
        self._connection = Connection(url, timeout)
        self._columns: list[Column] | None = None

    # --- schema ----------------------------------------------------------------------------

    @property
    def columns(self) -> list[Column]:
        if self._columns is None:
            reply = self._connection.request(m.ListColumns())
            self._columns = sorted((Column(c.id, c.name, c.type) for c in reply.columns),
                                   key=lambda c: c.id)
        return self._columns

    def column(self, key: int | str) -> Column:
        for column in self.columns:
            if column.id == key or column.name == key:
                return column
        self._columns = None  # another client may have added it
        for column in self.columns:
            if column.id == key or column.name == key:
                return column
        raise UnknownColumnError("no such column", column=key)

    def add_column(self, name: str, type: ColumnType | str | int) -> Column:
        ctype = ColumnType.parse(type)
        reply = self._connection.request(m.AddColumn(name, ctype))
        self._columns = None
        result = reply.result
        if isinstance(result, m.ApiError):
            if result.kind == m.ErrorKind.COLUMN_NAME_CANNOT_BE_EMPTY:
                raise ColumnNameError("column name cannot be empty")
            if result.kind == m.ErrorKind.COLUMN_NAME_ALREADY_EXISTS:
                raise ColumnExistsError("column name already exists", name=name)
            raise RemoteError(result.kind.name, str(result.detail))
        return Column(result, name, ctype)

    def add_column_index(self, column: int | str, kind: str = "bloom") -> Column:
        target = self.column(column)
        result = self._connection.request(m.AddColumnIndex(target.id)).result
        if isinstance(result, m.ApiError):
            if "already exists" in str(result.detail):
                raise IndexExistsError("index already exists", column=target.name, kind=kind)
            raise RemoteError(result.kind.name, str(result.detail))
        return target

    # --- writing ---------------------------------------------------------------------------

    def append(self, source: int, ts: Any, columns: Mapping[Any, Any] | None = None, *,
               durable: bool = False, wait: bool = True) -> "int | PendingAppend":
        """As `Database.append`. With `wait=False` the rows are validated and sent, and a
        handle comes back at once: its `result()` is the row count (or raises what append
        would), so the next batch can be prepared while the server stores this one."""
        if durable and not wait:
            raise ValueError("durable=True needs wait=True")
        batch = make_batch(source, ts, columns, self.column)
        block = {cv.column.id: _fragment(cv) for cv in batch.columns}
        message = m.InsertMessage(batch.ts, batch.source, tuple({k: v} for k, v in block.items())
                                  or ({},))
        pending = PendingAppend(self._connection.submit(m.Insert(message)))
        if not wait:
            return pending
        rows = pending.result()
        if durable:
            self.flush()
        return rows

    def append_arrow(self, source: int, table: pa.Table | pa.RecordBatch, *, ts: str = "ts",
                     durable: bool = False, wait: bool = True) -> "int | PendingAppend":
        if ts not in table.column_names:
            raise InvalidDataError("table has no timestamp column", expected=ts)
        columns = {name: table.column(name) for name in table.column_names if name != ts}
        return self.append(source, table.column(ts), columns, durable=durable, wait=wait)

    def flush(self) -> None:
        self._connection.request(m.Flush())

    def compact(self) -> None:
        """Ask the server to run its data compaction (export/retention where configured)."""
        self._connection.request(m.DataCompaction())

    # --- reading ---------------------------------------------------------------------------

    def partitions(self, source: int | None = None) -> list[PartitionInfo]:
        """Partitions as the server lists them (rows and sealed are not on the wire: None)."""
        reply = self._connection.request(m.RefreshCatalog())
        out = []
        for part in reply.partitions:
            part_source = int(part.location.split("/", 1)[0])
            if source is None or part_source == source:
                out.append(PartitionInfo(uuid.UUID(bytes=part.id), part_source, part.min_ts,
                                         part.max_ts, None, part.location, None))
        return out

    @property
    def sources(self) -> list[int]:
        return sorted({p.source for p in self.partitions()})

    def scan(self, *, min_ts: int = 0, max_ts: int = TS_END,
             sources: Iterable[int] | None = None, partitions: Iterable[Any] | None = None,
             columns: Iterable[Any] | None = None, filters: Any = None) -> pa.Table:
        request, projection = self._request(min_ts, max_ts, sources, partitions, columns, filters)
        table, _ = self._run(request, projection)
        return table

    def scan_numpy(self, **options: Any) -> dict[str, Any]:
        table = self.scan(**options)
        out = {}
        for name in table.column_names:
            column = table.column(name)
            values = column.to_numpy(zero_copy_only=False)
            if column.null_count:
                values = np.ma.MaskedArray(values, mask=~column.is_valid().to_numpy(
                    zero_copy_only=False))
            out[name] = values
        return out

    def scan_chunk(self, *, row_limit: int, state: int | None = None, min_ts: int = 0,
                   max_ts: int = TS_END, sources: Iterable[int] | None = None,
                   partitions: Iterable[Any] | None = None, columns: Iterable[Any] | None = None,
                   filters: Any = None) -> tuple[pa.Table, int | None]:
        if not isinstance(row_limit, int) or row_limit < 1:
            raise InvalidScanError("row_limit must be a positive integer", row_limit=row_limit)
        request, projection = self._request(min_ts, max_ts, sources, partitions, columns, filters,
                                            m.StreamConfig(row_limit, 0, state))
        return self._run(request, projection)

    def scan_iter(self, *, row_limit: int = 1 << 20, min_ts: int = 0, max_ts: int = TS_END,
                  sources: Iterable[int] | None = None, partitions: Iterable[Any] | None = None,
                  columns: Iterable[Any] | None = None, filters: Any = None
                  ) -> Iterator[pa.Table]:
        """As `Database.scan_iter`. The next chunk is asked for as soon as a reply is
        decoded, so the server reads it while this side builds the Arrow table of the last."""
        if not isinstance(row_limit, int) or row_limit < 1:
            raise InvalidScanError("row_limit must be a positive integer", row_limit=row_limit)
        request, projection = self._request(min_ts, max_ts, sources, partitions, columns, filters,
                                            m.StreamConfig(row_limit, 0, None))
        pending = self._connection.submit(m.Scan(request))
        try:
            while True:
                result = _scan_result(pending.result())
                pending = None
                state = result.stream_state
                if state is not None:
                    request = dataclasses.replace(request,
                                                  stream=m.StreamConfig(row_limit, 0, state))
                    pending = self._connection.submit(m.Scan(request))
                table = result_table(result, projection)
                if table.num_rows:
                    yield table
                if state is None:
                    return
        finally:
            if pending is not None:  # left early: let the chunk asked for arrive first
                with contextlib.suppress(Exception):
                    pending.result()

    def count(self, *, min_ts: int = 0, max_ts: int = TS_END,
              sources: Iterable[int] | None = None, partitions: Iterable[Any] | None = None,
              filters: Any = None, by: int | str | None = None) -> Any:
        column = "ts" if by is None else spec_column(self.column, by).name
        table = self.scan(min_ts=min_ts, max_ts=max_ts, sources=sources, partitions=partitions,
                          columns=[column], filters=filters)
        if by is None:
            return table.num_rows
        values = table.column(0)
        if self.column(column).type.is_int128:
            from hyena.engine.scan.result import int128_to_pylist
            keys = int128_to_pylist(values, self.column(column).type.signed)
        else:
            keys = values.to_pylist()
        return dict(Counter(keys).most_common())

    # --- plumbing --------------------------------------------------------------------------

    def _request(self, min_ts, max_ts, sources, partitions, columns, filters,
                 stream: m.StreamConfig | None = None) -> tuple[list[m.ScanRequest],
                                                                tuple[Column, ...]]:
        spec = make_spec(self.column, self.columns, min_ts=min_ts, max_ts=max_ts,
                         sources=sources, partitions=partitions, columns=columns,
                         filters=filters)
        groups = []
        for group in spec.groups:
            groups.extend(_wire_groups(group))
        if spec.sources is not None:  # sources travel as filters on column 1
            with_source = []
            for source in sorted(spec.sources):
                flt = m.ScanFilter(1, m.ScanComparison.EQ, m.FilterVal(7, source))
                with_source += [g + (flt,) for g in (groups or [()])]
            groups = with_source
        ids = tuple(p.bytes for p in spec.partition_ids) if spec.partition_ids else ()
        # ts first: the row count of a result with only sparse columns is otherwise unknown
        projection = (0,) + tuple(c.id for c in spec.columns)
        request = m.ScanRequest(min(spec.min_ts, (1 << 64) - 1), min(spec.max_ts, (1 << 64) - 1),
                                ids, projection, tuple(groups), stream)
        return request, spec.columns

    def _run(self, request: m.ScanRequest, projection: tuple[Column, ...]
             ) -> tuple[pa.Table, int | None]:
        result = _scan_result(self._connection.request(m.Scan(request)))
        return result_table(result, projection), result.stream_state

    @property
    def connection(self) -> Connection:
        """The session (its `ping()`, `bytes_sent`, `bytes_received`)."""
        return self._connection

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "RemoteDatabase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<hyena.client.RemoteDatabase {self.url!r}>"


class PendingAppend:
    """An append sent and not yet acknowledged (`RemoteDatabase.append(..., wait=False)`)."""

    __slots__ = ("_pending",)

    def __init__(self, pending: Pending) -> None:
        self._pending = pending

    def result(self) -> int:
        """The number of rows stored; raises InvalidDataError for data the server refused."""
        result = self._pending.result().result
        if isinstance(result, m.ApiError):
            if result.kind in (m.ErrorKind.INCONSISTENT_DATA, m.ErrorKind.NO_DATA):
                raise InvalidDataError(str(result.detail))
            raise RemoteError(result.kind.name, str(result.detail))
        return int(result)


def _scan_result(reply: m.ScanReply) -> m.ScanResult:
    result = reply.result
    if isinstance(result, m.ApiError):
        if result.kind == m.ErrorKind.INVALID_SCAN_REQUEST:
            raise InvalidScanError(str(result.detail))
        raise ScanError(str(result.detail))
    return result


def result_table(result: m.ScanResult, projection: tuple[Column, ...]) -> pa.Table:
    """A scan reply as the Arrow table the embedded engine gives for the same projection."""
    by_id = {t.column_id: t for t in result.data}
    rows = by_id[0].data.count if 0 in by_id and by_id[0].data is not None else 0
    arrays, fields = [], []
    for column in projection:
        triple = by_id.get(column.id)
        array = _arrow(triple.data if triple else None, column.type, rows)
        meta = {b"hyena.type": column.type.base.encode()} if column.type.is_int128 else None
        fields.append(pa.field(column.name, array.type,
                               nullable=column.type.is_sparse or array.null_count > 0,
                               metadata=meta))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _wire_groups(group: tuple[Filter, ...]) -> list[tuple[m.ScanFilter, ...]]:
    """One wire group per combination of the values of the group's `in` filters."""
    choices = []
    for flt in group:
        values = flt.value if flt.op == Op.IN else (flt.value,)
        op = m.ScanComparison.EQ if flt.op == Op.IN else _FILTER_OPS[flt.op]
        choices.append([m.ScanFilter(flt.column.id, op, _filter_val(flt.column, v))
                        for v in values])
    return [tuple(combo) for combo in itertools.product(*choices)]


def _filter_val(column: Column, value: Any) -> m.FilterVal:
    if isinstance(value, bytes):
        return m.FilterVal(10, value.decode())
    if hasattr(value, "pattern"):
        return m.FilterVal(10, value.pattern)
    own = _INT_VARIANTS.index(column.type.base) if not column.type.is_string else None
    if own is not None:
        low, high = column.type.int_range
        if low <= value <= high:
            return m.FilterVal(own, value)
    # the server compares numerically: carry the value in a type wide enough for it
    return m.FilterVal(4 if value < 0 else 9, value)


def _fragment(cv: ColumnValues) -> m.Fragment:
    ctype = cv.column.type
    if ctype.is_string:
        return m.Fragment(ctype, cv.values, cv.index, cv.offsets)
    return m.Fragment(ctype, cv.values, cv.index)


def _arrow(fragment: m.Fragment | None, ctype: ColumnType, rows: int) -> pa.Array:
    typ = arrow_type(ctype)
    if fragment is None:
        return pa.nulls(rows, typ)
    count = fragment.count
    if fragment.type.is_string:
        dense = _strings(fragment.offsets, fragment.values, count)
    else:
        dense = pa.Array.from_buffers(typ, count, [None, pa.py_buffer(
            np.ascontiguousarray(fragment.values))])
    if fragment.index is None:
        return dense
    index = fragment.index.astype(np.intp)
    if fragment.type.is_string:  # spread the strings to their rows; the others are null
        positions = np.full(rows, -1, dtype=np.int64)
        positions[index] = np.arange(count)
        return dense.take(pa.array(positions, mask=positions < 0))
    values = np.zeros(rows, dtype=fragment.values.dtype)  # numbers: scatter, and a bitmap
    values[index] = fragment.values
    present = np.zeros(rows, dtype=bool)
    present[index] = True
    bitmap = np.packbits(present, bitorder="little")
    return pa.Array.from_buffers(typ, rows, [pa.py_buffer(bitmap), pa.py_buffer(values)])


def _strings(offsets: np.ndarray, data: np.ndarray, count: int) -> pa.Array:
    """An Arrow `string` array on the decoded buffers (no copy when the offsets are int32)."""
    if offsets.dtype == np.int32:
        return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets),
                                                          pa.py_buffer(data)])
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_string(), count, [None, pa.py_buffer(offsets),
                                                            pa.py_buffer(data)]).cast(pa.string())
