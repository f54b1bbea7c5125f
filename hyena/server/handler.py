"""API requests -> engine calls -> API replies. Pure of sockets: bytes in, encoded reply out
(a Writer, joined once with its envelope by the session: see codec.encode_response_message).

Every request gets exactly one reply, and a bad request gets the error variant the protocol
defines for it (never a crash): see docs/protocol.md for the checks and where we differ from
the original server on purpose.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from hyena.engine.batch import Sparse
from hyena.engine.database import Database
from hyena.errors import (ColumnExistsError, ColumnNameError, DecodeError, HyenaError,
                          IndexExistsError, InvalidDataError, InvalidScanError,
                          UnknownColumnError)
from hyena.protocol import codec
from hyena.protocol import messages as m
from hyena.protocol.bincode import Writer
from hyena.server.results import scan_result, wire_type
from hyena.types import MAX_TIMESTAMP, SOURCE_COLUMN, TS_COLUMN

__all__ = ["Handler"]

log = logging.getLogger("hyena.server")
E = m.ErrorKind
_STRING_OPS = {m.ScanComparison.STARTS_WITH: "starts_with", m.ScanComparison.ENDS_WITH:
               "ends_with", m.ScanComparison.CONTAINS: "contains",
               m.ScanComparison.MATCHES: "matches"}
_OPS = {m.ScanComparison.LT: "<", m.ScanComparison.LT_EQ: "<=", m.ScanComparison.EQ: "==",
        m.ScanComparison.GT_EQ: ">=", m.ScanComparison.GT: ">", m.ScanComparison.NOT_EQ: "!=",
        m.ScanComparison.IN: "=="}  # a wire filter carries one value: In of one is Eq


class Handler:
    def __init__(self, db: Database, compact: Callable[[], None] | None = None,
                 legacy_errors: bool = False) -> None:
        self.db = db
        self.compact = compact or db.flush
        self.legacy_errors = legacy_errors
        # extensions -> (the catalog's columns, their ListColumns reply encoded): a listing
        # is asked for often and changes only when a column is added
        self._listings: dict[bool, tuple[tuple, Writer]] = {}

    def handle(self, payload: bytes | memoryview, extensions: bool = False) -> Writer:
        try:
            request = codec.decode_request(payload, extensions)
        except DecodeError as exc:
            reply: m.Reply = m.SerializeErrorReply(str(exc))
        else:
            if isinstance(request, m.ListColumns):
                return self._listing(extensions)
            reply = self.dispatch(request, extensions)
        return codec.reply_writer(reply, self.legacy_errors)

    def _listing(self, extensions: bool) -> Writer:
        """The encoded ListColumns reply, from the cache while the catalog is unchanged."""
        columns = tuple(self.db.columns)
        cached = self._listings.get(extensions)
        if cached is None or cached[0] != columns:
            reply = self.dispatch(m.ListColumns(), extensions)
            cached = (columns, codec.reply_writer(reply, self.legacy_errors))
            self._listings[extensions] = cached
        return cached[1]

    def dispatch(self, request: m.Request, extensions: bool) -> m.Reply:
        try:
            if isinstance(request, m.ListColumns):
                return m.ListColumnsReply(self._columns(extensions))
            if isinstance(request, m.Insert):
                return m.InsertReply(self._insert(request.message, extensions))
            if isinstance(request, m.Scan):
                return m.ScanReply(self._scan(request.request, extensions))
            if isinstance(request, m.RefreshCatalog):
                return m.RefreshCatalogReply(self._columns(extensions), self._partitions())
            if isinstance(request, m.AddColumn):
                return m.AddColumnReply(self._add_column(request))
            if isinstance(request, m.Flush):
                self.db.flush()
                return m.FlushReply()
            if isinstance(request, m.DataCompaction):
                self.compact()
                return m.DataCompactionReply()
            if isinstance(request, m.AddColumnIndex):
                return m.AddColumnIndexReply(self._add_index(request.column_id))
            return m.OtherReply()
        except Exception as exc:  # the server keeps serving whatever happens
            log.exception("request failed: %s", type(request).__name__)
            error = m.ApiError(E.UNKNOWN, f"{type(exc).__name__}: {exc}")
            return _error_reply(request, error)

    # --- catalog ---------------------------------------------------------------------------

    def _columns(self, extensions: bool) -> tuple[m.ReplyColumn, ...]:
        return tuple(m.ReplyColumn(wire_type(c.type, extensions), c.id, c.name)
                     for c in self.db.columns)

    def _partitions(self) -> tuple[m.PartitionInfo, ...]:
        return tuple(m.PartitionInfo(p.min_ts, p.max_ts, p.id.bytes, p.path)
                     for p in self.db.partitions())

    def _add_column(self, request: m.AddColumn) -> int | m.ApiError:
        try:
            return self.db.add_column(request.name, request.type).id
        except ColumnNameError:
            return m.ApiError(E.COLUMN_NAME_CANNOT_BE_EMPTY, None)
        except ColumnExistsError:
            return m.ApiError(E.COLUMN_NAME_ALREADY_EXISTS, request.name)
        except HyenaError as exc:
            return m.ApiError(E.CATALOG_ERROR, str(exc))

    def _add_index(self, column_id: int) -> int | m.ApiError:
        try:
            return self.db.add_column_index(column_id).id
        except UnknownColumnError:
            return m.ApiError(E.UNKNOWN, f"column not found {column_id}")
        except IndexExistsError:
            return m.ApiError(E.UNKNOWN, f"Index already exists {column_id}")

    # --- insert ----------------------------------------------------------------------------

    def _insert(self, msg: m.InsertMessage, extensions: bool) -> int | m.ApiError:
        n = len(msg.timestamps)
        if n == 0:
            return m.ApiError(E.NO_DATA, "Timestamps cannot be empty")
        if not msg.columns:
            return m.ApiError(E.NO_DATA, "Cannot insert empty vector")
        if int(msg.timestamps.max()) > MAX_TIMESTAMP:
            return m.ApiError(E.INCONSISTENT_DATA,
                              f"timestamp out of range (largest allowed {MAX_TIMESTAMP})")
        merged: dict[int, m.Fragment] = {}
        for block in msg.columns:
            for column_id, fragment in block.items():
                count = fragment.count
                if fragment.type.is_sparse and count > n:
                    return m.ApiError(E.INCONSISTENT_DATA, "Sparse block data length is greater "
                                      f"than timestamp length (column {column_id}, timestamps "
                                      f"{n}, data length {count})")
                if not fragment.type.is_sparse and count != n:
                    return m.ApiError(E.INCONSISTENT_DATA, "Dense block data length does not "
                                      f"match timestamp length (column {column_id}, timestamps "
                                      f"{n}, data length {count})")
                if column_id in merged:
                    return m.ApiError(E.INCONSISTENT_DATA,
                                      "At least one of the colums is repeated.")
                merged[column_id] = fragment
        columns: dict[int, Any] = {}
        for column_id, fragment in merged.items():
            if column_id in (TS_COLUMN, SOURCE_COLUMN):
                return m.ApiError(E.INCONSISTENT_DATA,
                                  f"column {column_id} is reserved (timestamp, source)")
            try:
                column = self.db.column(column_id)
            except UnknownColumnError:
                return m.ApiError(E.UNKNOWN, "failed to prepare all columns")
            if fragment.type != wire_type(column.type, extensions) and fragment.type != column.type:
                return m.ApiError(E.INCONSISTENT_DATA, f"column {column_id} is "
                                  f"{column.type.name}, data is {fragment.type.name}")
            columns[column_id] = _engine_values(fragment)
        try:
            return self.db.append(msg.source, msg.timestamps, columns)
        except InvalidDataError as exc:
            return m.ApiError(E.INCONSISTENT_DATA, str(exc))

    # --- scan ------------------------------------------------------------------------------

    def _scan(self, req: m.ScanRequest, extensions: bool) -> m.ScanResult | m.ApiError:
        if req.min_ts > req.max_ts:
            return m.ApiError(E.INVALID_SCAN_REQUEST, "min_ts > max_ts")
        if not req.projection:
            return m.ApiError(E.INVALID_SCAN_REQUEST, "Projections cannot be empty")
        known = {c.id: c for c in self.db.columns}
        projection = [known[c] for c in dict.fromkeys(req.projection) if c in known]
        groups = []
        for group in req.filters:
            converted = []
            for flt in group:
                problem = _filter(flt, known, converted)
                if problem is not None:
                    return m.ApiError(E.INVALID_SCAN_REQUEST, problem)
            groups.append(converted)
        if not projection:
            return m.ScanResult(())
        options: dict[str, Any] = dict(
            min_ts=req.min_ts, max_ts=req.max_ts, columns=[c.id for c in projection],
            filters=groups or None,
            partitions=[uuid.UUID(bytes=p) for p in req.partition_ids] or None)
        try:
            if req.stream is None:
                table, state = self.db.scan(**options), None
            else:
                if req.stream.row_limit == 0:
                    return m.ApiError(E.INVALID_SCAN_REQUEST, "row_limit must be positive")
                table, state = self.db.scan_chunk(row_limit=req.stream.row_limit,
                                                  state=req.stream.state, **options)
        except InvalidScanError as exc:
            return m.ApiError(E.INVALID_SCAN_REQUEST, str(exc))
        except HyenaError as exc:
            return m.ApiError(E.SCAN_ERROR, str(exc))
        return scan_result(table, projection, state, extensions)


def _filter(flt: m.ScanFilter, known: dict, out: list) -> str | None:
    """Append the engine filter for a wire filter; return a problem text when it is invalid."""
    column = known.get(flt.column)
    if column is None:
        return f"unknown column {flt.column}"
    is_text = flt.value.variant == 10
    if flt.op in _STRING_OPS:
        if not is_text:
            return "String operator for numeric data"
        if not column.type.is_string:
            return f"String operator on column {flt.column}, which is not a string column"
        out.append((column.id, _STRING_OPS[flt.op], flt.value.value))
        return None
    if is_text != column.type.is_string:
        return ("Numeric operator for string data" if is_text else
                f"numeric value for string column {flt.column}")
    out.append((column.id, _OPS[flt.op], flt.value.value))
    return None


def _engine_values(fragment: m.Fragment) -> Any:
    ctype = fragment.type
    if ctype.is_string:
        # binary, not string: the engine checks the UTF-8 (as the decoder did); a cast to
        # string would check it a third time
        offsets = fragment.offsets
        if offsets.dtype != np.int32:
            offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        values = pa.Array.from_buffers(pa.binary() if offsets.dtype == np.int32 else
                                       pa.large_binary(), fragment.count,
                                       [None, pa.py_buffer(offsets),
                                        pa.py_buffer(fragment.values)])
    else:
        values = fragment.values
    if ctype.is_sparse:
        return Sparse(values, fragment.index)
    return values


def _error_reply(request: m.Request, error: m.ApiError) -> m.Reply:
    if isinstance(request, m.Insert):
        return m.InsertReply(error)
    if isinstance(request, m.Scan):
        return m.ScanReply(m.ApiError(E.SCAN_ERROR, error.detail))
    if isinstance(request, m.AddColumn):
        return m.AddColumnReply(error)
    if isinstance(request, m.AddColumnIndex):
        return m.AddColumnIndexReply(error)
    return m.SerializeErrorReply(str(error.detail))
