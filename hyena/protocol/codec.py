"""Messages <-> bytes for every layer of the Hyena wire protocol (no sockets here).

Decoders raise only DecodeError and, like bincode 0.9, ignore bytes after a complete value.
Fragments of type 21 (nullable strings) exist only for clients that asked for extensions.
"""
from __future__ import annotations

import functools
import struct

import numpy as np

from hyena.errors import DecodeError
from hyena.protocol import messages as m
from hyena.protocol.bincode import Reader, Writer
from hyena.types import ColumnType

__all__ = [
    "encode_control_request", "decode_control_request", "encode_control_reply",
    "decode_control_reply", "encode_peer_request", "decode_peer_request", "encode_peer_reply",
    "decode_peer_reply", "encode_request", "decode_request", "encode_reply", "decode_reply",
    "encode_fragment", "decode_fragment", "request_writer", "reply_writer",
    "encode_request_message", "encode_response_message",
]

_REQUEST_HEADER = struct.Struct("<IQBQ")  # PeerRequest::Request(id, Some(len ...))
_RESPONSE_HEADER = struct.Struct("<IQIBQ")  # PeerReply::Response(id, Ok(Some(len ...)))
_COLUMN_HEAD = struct.Struct("<IQQ")  # a catalog column: BlockType, id, name length
_WIRE_TYPES = 21  # BlockType 0..20 on the wire; 21 (nullable string) is our extension
_COLUMN_TYPES = tuple(ColumnType(t) for t in range(_WIRE_TYPES + 1))
_INT_TYPES = ("i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128")


# --- control -----------------------------------------------------------------------------------

def encode_control_request(msg: m.CreateSocket) -> bytes:
    return b"\x00\x00\x00\x00" + (m.EXTENSION_MARKER if msg.extensions else b"")


def decode_control_request(data: bytes) -> m.CreateSocket:
    reader = Reader(data)
    reader.tag("ControlRequest", 1)
    return m.CreateSocket(extensions=data[4:4 + len(m.EXTENSION_MARKER)] == m.EXTENSION_MARKER)


def encode_control_reply(msg: m.SocketCreated) -> bytes:
    w = Writer()
    w.tag(0)
    if isinstance(msg.result, m.ControlError):
        w.tag(1)
        w.tag(int(msg.result.kind))
        if msg.result.kind == m.ControlErrorKind.SOCKET:
            w.string(msg.result.text)
    else:
        w.tag(0)
        w.u64(msg.result[0])
        w.string(msg.result[1])
    return w.getvalue()


def decode_control_reply(data: bytes) -> m.SocketCreated:
    r = Reader(data)
    r.tag("ControlReply", 1)
    if r.tag("Result", 2) == 0:
        return m.SocketCreated((r.u64("connection id"), r.string("session url")))
    kind = m.ControlErrorKind(r.tag("ControlReplyError", 3))
    return m.SocketCreated(m.ControlError(kind, r.string("error") if kind == 0 else ""))


# --- session envelope ------------------------------------------------------------------------

def encode_peer_request(msg: object) -> bytes:
    w = Writer()
    if isinstance(msg, m.PeerRequest):
        w.tag(0)
        w.u64(msg.message_id)
        _optional_bytes(w, msg.payload)
    elif isinstance(msg, m.PeerAbort):
        w.tag(1)
        w.u64(msg.message_id)
    elif isinstance(msg, m.PeerClose):
        w.tag(2)
    elif isinstance(msg, m.PeerKeepAlive):
        w.tag(3)
    else:
        raise TypeError(f"not a peer request: {msg!r}")
    return w.getvalue()


def encode_request_message(message_id: int, request: m.Request) -> bytes:
    """`PeerRequest(message_id, encode_request(request))`, with one copy of the payload."""
    w = request_writer(request)
    return w.getvalue(_REQUEST_HEADER.pack(0, message_id, 1, w.size))


def decode_peer_request(data: bytes | memoryview) -> object:
    """The payload of a Request is a view of `data` (not a copy)."""
    if type(data) is bytes and len(data) >= _REQUEST_HEADER.size:  # the common case, at once
        tag, message_id, some, n = _REQUEST_HEADER.unpack_from(data)
        if tag == 0 and some == 1 and n <= len(data) - _REQUEST_HEADER.size:
            start = _REQUEST_HEADER.size
            return m.PeerRequest(message_id, memoryview(data)[start:start + n])
    r = Reader(data)
    tag = r.tag("PeerRequest", 4)
    if tag == 0:
        return m.PeerRequest(r.u64("message id"), _read_optional_bytes(r))
    if tag == 1:
        return m.PeerAbort(r.u64("message id"))
    return m.PeerClose() if tag == 2 else m.PeerKeepAlive()


def encode_peer_reply(msg: object) -> bytes:
    w = Writer()
    if isinstance(msg, m.ServerKeepAlive):
        w.tag(1)
        return w.getvalue()
    if not isinstance(msg, m.PeerResponse):
        raise TypeError(f"not a peer reply: {msg!r}")
    w.tag(0)
    w.u64(msg.message_id)
    if isinstance(msg.result, m.PeerError):
        w.tag(1)
        w.tag(int(msg.result))
    else:
        w.tag(0)
        _optional_bytes(w, msg.result)
    return w.getvalue()


def encode_response_message(message_id: int, reply: bytes | Writer) -> bytes:
    """`PeerResponse(message_id, Ok(Some(reply)))`; an unjoined reply (a Writer) is copied once."""
    if isinstance(reply, Writer):
        return reply.getvalue(_RESPONSE_HEADER.pack(0, message_id, 0, 1, reply.size))
    return b"".join([_RESPONSE_HEADER.pack(0, message_id, 0, 1, len(reply)), reply])


def decode_peer_reply(data: bytes | memoryview) -> object:
    """The payload of a Response is a view of `data` (not a copy)."""
    if type(data) is bytes and len(data) >= _RESPONSE_HEADER.size:  # the common case, at once
        tag, message_id, result, some, n = _RESPONSE_HEADER.unpack_from(data)
        if tag == 0 and result == 0 and some == 1 and n <= len(data) - _RESPONSE_HEADER.size:
            start = _RESPONSE_HEADER.size
            return m.PeerResponse(message_id, memoryview(data)[start:start + n])
    r = Reader(data)
    if r.tag("PeerReply", 2) == 1:
        return m.ServerKeepAlive()
    message_id = r.u64("message id")
    if r.tag("Result", 2) == 1:
        return m.PeerResponse(message_id, m.PeerError(r.tag("PeerReplyError", 6)))
    return m.PeerResponse(message_id, _read_optional_bytes(r))


def _optional_bytes(w: Writer, payload: bytes | None) -> None:
    w.option(payload is not None)
    if payload is not None:
        w.u64(len(payload))
        w.raw(payload)


def _read_optional_bytes(r: Reader) -> bytes | None:
    if not r.option("payload"):
        return None
    return r.view(r.length("payload", 1), "payload")


# --- fragments ---------------------------------------------------------------------------------

def encode_fragment(w: Writer, fragment: m.Fragment) -> None:
    ctype = fragment.type
    w.tag(int(ctype))
    if ctype.is_string:
        w.strings(fragment.offsets, fragment.values)
    else:
        w.array(fragment.values, ctype.dtype)
    if ctype.is_sparse:
        w.array(fragment.index, np.uint32)


def decode_fragment(r: Reader, extensions: bool = True) -> m.Fragment:
    ctype = _COLUMN_TYPES[r.tag("Fragment", _WIRE_TYPES + (1 if extensions else 0))]
    if ctype.is_string:
        offsets, values = r.strings("string fragment")
    else:
        offsets, values = None, r.array(ctype.dtype, "fragment")
    index = r.array(np.uint32, "sparse index") if ctype.is_sparse else None
    count = len(offsets) - 1 if offsets is not None else len(values)
    if index is not None and len(index) != count:
        raise DecodeError("sparse fragment has different numbers of values and indexes",
                          values=count, indexes=len(index))
    return m.Fragment(ctype, values, index, offsets)


# --- API requests ------------------------------------------------------------------------------

def _filter_val(w: Writer, value: m.FilterVal) -> None:
    w.tag(value.variant)
    if value.variant == 10:
        w.string(value.value)
        return
    label = _INT_TYPES[value.variant]
    getattr(w, label)(value.value)


def _read_filter_val(r: Reader) -> m.FilterVal:
    variant = r.tag("FilterVal", 11)
    if variant == 10:
        return m.FilterVal(10, r.string("filter value"))
    return m.FilterVal(variant, getattr(r, _INT_TYPES[variant])("filter value"))


def encode_request(msg: m.Request) -> bytes:
    return request_writer(msg).getvalue()


def request_writer(msg: m.Request) -> Writer:
    """The request encoded but not yet joined (see encode_request_message)."""
    w = Writer()
    w.tag(msg.TAG)
    if isinstance(msg, m.Insert):
        ins = msg.message
        w.array(ins.timestamps, np.uint64)
        w.u32(ins.source)
        w.u64(len(ins.columns))
        for block in ins.columns:
            w.u64(len(block))
            for column_id, fragment in block.items():
                w.u64(column_id)
                encode_fragment(w, fragment)
    elif isinstance(msg, m.Scan):
        req = msg.request
        w.u64(req.min_ts)
        w.u64(req.max_ts)
        w.u64(len(req.partition_ids))
        for pid in req.partition_ids:
            w.raw(pid)
        w.array(np.array(req.projection, dtype=np.uint64), np.uint64)
        w.u64(len(req.filters))
        for group in req.filters:
            w.u64(len(group))
            for flt in group:
                w.u64(flt.column)
                w.tag(int(flt.op))
                _filter_val(w, flt.value)
        w.option(req.stream is not None)
        if req.stream is not None:
            w.u64(req.stream.row_limit)
            w.u64(req.stream.threshold)
            w.option(req.stream.state is not None)
            if req.stream.state is not None:
                w.u64(req.stream.state)
    elif isinstance(msg, m.AddColumn):
        w.string(msg.name)
        w.tag(int(msg.type))
    elif isinstance(msg, m.AddColumnIndex):
        w.u64(msg.column_id)
        w.tag(msg.index_type)
    return w


def decode_request(data: bytes, extensions: bool = True) -> m.Request:
    r = Reader(data)
    tag = r.tag("Request", 9)
    if tag == 1:
        timestamps = r.array(np.uint64, "timestamps")
        source = r.u32("source")
        blocks = []
        for _ in range(r.length("column blocks", 8)):
            block: dict[int, m.Fragment] = {}
            for _ in range(r.length("block data", 12)):
                column_id = r.u64("column id")
                block[column_id] = decode_fragment(r, extensions)  # a repeated key: last wins
            blocks.append(block)
        return m.Insert(m.InsertMessage(timestamps, source, tuple(blocks)))
    if tag == 2:
        min_ts, max_ts = r.u64("min_ts"), r.u64("max_ts")
        ids = tuple(r.raw(16, "partition id") for _ in range(r.length("partition ids", 16)))
        projection = tuple(int(c) for c in r.array(np.uint64, "projection"))
        groups = []
        for _ in range(r.length("filter groups", 8)):
            group = []
            for _ in range(r.length("filters", 16)):
                column = r.u64("filter column")
                op = m.ScanComparison(r.tag("ScanComparison", 11))
                group.append(m.ScanFilter(column, op, _read_filter_val(r)))
            groups.append(tuple(group))
        stream = None
        if r.option("stream"):
            limit, threshold = r.u64("row_limit"), r.u64("threshold")
            state = r.u64("stream state") if r.option("stream state") else None
            stream = m.StreamConfig(limit, threshold, state)
        return m.Scan(m.ScanRequest(min_ts, max_ts, ids, projection, tuple(groups), stream))
    if tag == 4:
        name = r.string("column name")
        return m.AddColumn(name, ColumnType(r.tag("BlockType",
                                                  _WIRE_TYPES + (1 if extensions else 0))))
    if tag == 7:
        return m.AddColumnIndex(r.u64("column id"), r.tag("ColumnIndexType", 1))
    return {0: m.ListColumns, 3: m.RefreshCatalog, 5: m.Flush, 6: m.DataCompaction,
            8: m.OtherRequest}[tag]()


# --- API replies -------------------------------------------------------------------------------

def _error(w: Writer, error: m.ApiError) -> None:
    w.tag(int(error.kind))
    if error.kind == m.ErrorKind.COLUMN_ID_ALREADY_EXISTS:
        w.u64(int(error.detail))
    elif error.kind != m.ErrorKind.COLUMN_NAME_CANNOT_BE_EMPTY:
        w.string(str(error.detail))


def _read_error(r: Reader) -> m.ApiError:
    kind = m.ErrorKind(r.tag("Error", 9))
    if kind == m.ErrorKind.COLUMN_ID_ALREADY_EXISTS:
        return m.ApiError(kind, r.u64("column id"))
    if kind == m.ErrorKind.COLUMN_NAME_CANNOT_BE_EMPTY:
        return m.ApiError(kind, None)
    return m.ApiError(kind, r.string("error text"))


def _result_u64(w: Writer, result: int | m.ApiError) -> None:
    if isinstance(result, m.ApiError):
        w.tag(1)
        _error(w, result)
    else:
        w.tag(0)
        w.u64(result)


def _read_result_u64(r: Reader) -> int | m.ApiError:
    return r.u64("result") if r.tag("Result", 2) == 0 else _read_error(r)


def _columns(w: Writer, columns: tuple[m.ReplyColumn, ...]) -> None:
    w.u64(len(columns))
    for col in columns:
        name = col.name.encode("utf-8")
        w.raw(_COLUMN_HEAD.pack(int(col.type), col.id, len(name)))
        w.raw(name)


@functools.lru_cache(maxsize=16)
def _listing(data: bytes, extensions: bool) -> m.ListColumnsReply:
    """A catalog listing, decoded once per distinct listing: clients ask for it again and
    again, and decoding a column costs more than comparing the bytes (replies are immutable,
    so the same one can be handed out each time)."""
    r = Reader(data)
    r.pos = 4  # the Reply tag, read by the caller
    return m.ListColumnsReply(_read_columns(r, extensions))


def _read_columns(r: Reader, extensions: bool) -> tuple[m.ReplyColumn, ...]:
    """Catalog listings are read often (a round trip's worth of time): one unpack per column,
    the checks of Reader.tag/length/string inlined."""
    limit = _WIRE_TYPES + (1 if extensions else 0)
    data, size = r.data, r.size
    out = []
    for _ in range(r.length("columns", 20)):
        pos = r.pos
        if size - pos < _COLUMN_HEAD.size:
            r.tag("BlockType", limit)  # raises where the message ends
            r.u64("column id")
            r.u64("column name")
        tag, column_id, n = _COLUMN_HEAD.unpack_from(data, pos)
        if tag >= limit:
            raise DecodeError("unknown variant of BlockType", offset=pos, tag=tag)
        pos += _COLUMN_HEAD.size
        if n > size - pos:
            raise DecodeError("column name claims more elements than the message holds",
                              offset=pos - 8, length=n, left=size - pos)
        try:
            name = str(data[pos:pos + n], "utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("column name is not valid UTF-8", offset=pos + exc.start) from None
        r.pos = pos + n
        out.append(m.ReplyColumn(_COLUMN_TYPES[tag], column_id, name))
    return tuple(out)


def encode_reply(msg: m.Reply, legacy_errors: bool = False) -> bytes:
    """`legacy_errors`: number SerializeError 7 and Other 8 as the Kotlin client does."""
    return reply_writer(msg, legacy_errors).getvalue()


def reply_writer(msg: m.Reply, legacy_errors: bool = False) -> Writer:
    """The reply encoded but not yet joined (see encode_response_message)."""
    w = Writer()
    tag = msg.TAG
    if legacy_errors and isinstance(msg, (m.SerializeErrorReply, m.OtherReply)):
        tag -= 1
    w.tag(tag)
    if isinstance(msg, m.ListColumnsReply):
        _columns(w, msg.columns)
    elif isinstance(msg, (m.InsertReply, m.AddColumnReply, m.AddColumnIndexReply)):
        _result_u64(w, msg.result)
    elif isinstance(msg, m.ScanReply):
        if isinstance(msg.result, m.ApiError):
            w.tag(1)
            _error(w, msg.result)
        else:
            w.tag(0)
            w.u64(len(msg.result.data))
            for triple in msg.result.data:
                w.u64(triple.column_id)
                w.tag(int(triple.column_type))
                w.option(triple.data is not None)
                if triple.data is not None:
                    encode_fragment(w, triple.data)
            w.option(msg.result.stream_state is not None)
            if msg.result.stream_state is not None:
                w.u64(msg.result.stream_state)
    elif isinstance(msg, m.RefreshCatalogReply):
        _columns(w, msg.columns)
        w.u64(len(msg.partitions))
        for part in msg.partitions:
            w.u64(part.min_ts)
            w.u64(part.max_ts)
            w.raw(part.id)
            w.string(part.location)
    elif isinstance(msg, m.SerializeErrorReply):
        w.string(msg.text)
    return w


def decode_reply(data: bytes | memoryview, extensions: bool = True) -> m.Reply:
    r = Reader(data)
    tag = r.tag("Reply", 10)
    if tag == 0:
        return _listing(bytes(data), extensions)
    if tag in (1, 4, 7):
        cls = {1: m.InsertReply, 4: m.AddColumnReply, 7: m.AddColumnIndexReply}[tag]
        return cls(_read_result_u64(r))
    if tag == 2:
        if r.tag("Result", 2) == 1:
            return m.ScanReply(_read_error(r))
        triples = []
        for _ in range(r.length("scan result columns", 13)):
            column_id = r.u64("column id")
            ctype = _COLUMN_TYPES[r.tag("BlockType", _WIRE_TYPES + (1 if extensions else 0))]
            data_ = decode_fragment(r, extensions) if r.option("fragment") else None
            triples.append(m.DataTriple(column_id, ctype, data_))
        state = r.u64("stream state") if r.option("stream state") else None
        return m.ScanReply(m.ScanResult(tuple(triples), state))
    if tag == 3:
        columns = _read_columns(r, extensions)
        parts = []
        for _ in range(r.length("partitions", 40)):
            min_ts, max_ts = r.u64("min_ts"), r.u64("max_ts")
            parts.append(m.PartitionInfo(min_ts, max_ts, r.raw(16, "partition id"),
                                         r.string("location")))
        return m.RefreshCatalogReply(columns, tuple(parts))
    if tag == 8:
        return m.SerializeErrorReply(r.string("serialize error"))
    return {5: m.FlushReply, 6: m.DataCompactionReply, 9: m.OtherReply}[tag]()
