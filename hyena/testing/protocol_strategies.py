"""hypothesis strategies for every wire message (used by codec and server fuzz tests)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from hyena.protocol import messages as m
from hyena.types import ColumnType

__all__ = ["fragments", "requests", "replies", "peer_requests", "peer_replies",
           "control_replies", "WIRE_TYPES"]

WIRE_TYPES = [t for t in ColumnType if t != ColumnType.STRING_SPARSE]
u64 = st.integers(0, 2**64 - 1)
texts = st.text(max_size=12)


def _ints(ctype: ColumnType) -> st.SearchStrategy:
    low, high = ctype.int_range
    return st.one_of(st.sampled_from([low, high, 0 if low <= 0 else low]), st.integers(low, high))


@st.composite
def fragments(draw, types=tuple(ColumnType)):
    ctype = draw(st.sampled_from(types))
    if ctype.is_string:
        strings = draw(st.lists(texts, max_size=6))
        raw = [s.encode() for s in strings]
        offsets = np.zeros(len(raw) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in raw], out=offsets[1:]) if raw else None
        values = np.frombuffer(b"".join(raw), dtype=np.uint8).copy()
    else:
        ints = draw(st.lists(_ints(ctype), max_size=6))
        if ctype.is_int128:
            values = np.frombuffer(b"".join((v & (2**128 - 1)).to_bytes(16, "little")
                                            for v in ints), dtype="V16").copy()
        else:
            values = np.array(ints, dtype=ctype.dtype)
        offsets = None
    count = len(offsets) - 1 if offsets is not None else len(values)
    index = None
    if ctype.is_sparse:
        index = np.array(sorted(draw(st.sets(st.integers(0, 2**32 - 1), min_size=count,
                                             max_size=count))), dtype=np.uint32)
    return m.Fragment(ctype, values, index, offsets)


def filter_vals() -> st.SearchStrategy:
    ints = [st.builds(m.FilterVal, st.just(i), _ints(ColumnType.parse(label)))
            for i, label in enumerate(m.FILTER_VAL_TYPES[:10])]
    return st.one_of(*ints, st.builds(m.FilterVal, st.just(10), texts))


scan_requests = st.builds(
    m.ScanRequest, u64, u64, st.lists(st.binary(min_size=16, max_size=16), max_size=2).map(tuple),
    st.lists(u64, max_size=4).map(tuple),
    st.lists(st.lists(st.builds(m.ScanFilter, u64, st.sampled_from(list(m.ScanComparison)),
                                filter_vals()), max_size=3).map(tuple), max_size=3).map(tuple),
    st.none() | st.builds(m.StreamConfig, u64, u64, st.none() | u64))
insert_messages = st.builds(
    m.InsertMessage, st.lists(u64, max_size=5).map(lambda v: np.array(v, dtype=np.uint64)),
    st.integers(0, 2**32 - 1),
    st.lists(st.dictionaries(u64, fragments(), max_size=3), max_size=3).map(tuple))
requests = st.one_of(
    st.just(m.ListColumns()), st.builds(m.Insert, insert_messages), st.builds(m.Scan, scan_requests),
    st.just(m.RefreshCatalog()), st.builds(m.AddColumn, texts, st.sampled_from(list(ColumnType))),
    st.just(m.Flush()), st.just(m.DataCompaction()), st.builds(m.AddColumnIndex, u64),
    st.just(m.OtherRequest()))
api_errors = st.one_of(
    st.builds(m.ApiError, st.sampled_from([k for k in m.ErrorKind if k not in (1, 2)]), texts),
    st.builds(m.ApiError, st.just(m.ErrorKind.COLUMN_ID_ALREADY_EXISTS), u64),
    st.just(m.ApiError(m.ErrorKind.COLUMN_NAME_CANNOT_BE_EMPTY, None)))
columns = st.lists(st.builds(m.ReplyColumn, st.sampled_from(list(ColumnType)), u64, texts),
                   max_size=4).map(tuple)
scan_results = st.builds(
    m.ScanResult, st.lists(st.builds(m.DataTriple, u64, st.sampled_from(list(ColumnType)),
                                     st.none() | fragments()), max_size=3).map(tuple),
    st.none() | u64)
replies = st.one_of(
    st.builds(m.ListColumnsReply, columns), st.builds(m.InsertReply, u64 | api_errors),
    st.builds(m.ScanReply, scan_results | api_errors),
    st.builds(m.RefreshCatalogReply, columns,
              st.lists(st.builds(m.PartitionInfo, u64, u64, st.binary(min_size=16, max_size=16),
                                 texts), max_size=2).map(tuple)),
    st.builds(m.AddColumnReply, u64 | api_errors), st.just(m.FlushReply()),
    st.just(m.DataCompactionReply()), st.builds(m.AddColumnIndexReply, u64 | api_errors),
    st.builds(m.SerializeErrorReply, texts), st.just(m.OtherReply()))
peer_requests = st.one_of(st.builds(m.PeerRequest, u64, st.none() | st.binary(max_size=20)),
                          st.builds(m.PeerAbort, u64), st.just(m.PeerClose()),
                          st.just(m.PeerKeepAlive()))
peer_replies = st.one_of(st.builds(m.PeerResponse, u64, st.none() | st.binary(max_size=20)
                                   | st.sampled_from(list(m.PeerError))),
                         st.just(m.ServerKeepAlive()))
control_replies = st.builds(m.SocketCreated, st.tuples(u64, texts) | st.builds(
    m.ControlError, st.sampled_from(list(m.ControlErrorKind)), st.just("")))
