"""The messages of the Hyena wire protocol, as plain frozen dataclasses (docs/protocol.md).

Three layers: the control socket (ask for a session), the session envelope (requests with
message ids, keep-alives, aborts), and the API (requests and replies of the engine). Variant
numbers follow the Rust server (hyena-edge), which the clients were deployed against.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from hyena.types import ColumnType

__all__ = [
    "CreateSocket", "SocketCreated", "ControlError", "ControlErrorKind",
    "PeerRequest", "PeerAbort", "PeerClose", "PeerKeepAlive", "PeerResponse", "PeerError",
    "ServerKeepAlive",
    "Fragment", "ScanComparison", "FilterVal", "ScanFilter", "StreamConfig", "ScanRequest",
    "InsertMessage", "ReplyColumn", "PartitionInfo", "DataTriple", "ScanResult",
    "ErrorKind", "ApiError",
    "ListColumns", "Insert", "Scan", "RefreshCatalog", "AddColumn", "Flush", "DataCompaction",
    "AddColumnIndex", "OtherRequest", "Request",
    "ListColumnsReply", "InsertReply", "ScanReply", "RefreshCatalogReply", "AddColumnReply",
    "FlushReply", "DataCompactionReply", "AddColumnIndexReply", "SerializeErrorReply",
    "OtherReply", "Reply", "EXTENSION_MARKER",
]

# Trailing bytes after CreateSocket (which the original server ignores) by which our client
# asks for the lossless view: nullable string columns as type 21 instead of as StringDense.
EXTENSION_MARKER = b"hyena-ext-1"


# --- control socket ------------------------------------------------------------------------

@dataclass(frozen=True)
class CreateSocket:
    extensions: bool = False  # sent with EXTENSION_MARKER


class ControlErrorKind(enum.IntEnum):
    SOCKET = 0
    PEER_CONNECTION = 1
    INTERNAL = 2


@dataclass(frozen=True)
class ControlError:
    kind: ControlErrorKind
    text: str = ""  # only for SOCKET


@dataclass(frozen=True)
class SocketCreated:
    result: tuple[int, str] | ControlError  # (connection id, session url) or the error


# --- session envelope ------------------------------------------------------------------------

class PeerError(enum.IntEnum):
    UNKNOWN = 0
    SOCKET = 1
    BUFFER_OVERFLOW = 2
    SERIALIZATION = 3
    BAD_MESSAGE = 4
    IO = 5


@dataclass(frozen=True)
class PeerRequest:
    message_id: int
    payload: bytes | None


@dataclass(frozen=True)
class PeerAbort:
    message_id: int


@dataclass(frozen=True)
class PeerClose:
    pass


@dataclass(frozen=True)
class PeerKeepAlive:
    pass


@dataclass(frozen=True)
class PeerResponse:
    message_id: int
    result: bytes | None | PeerError  # Ok(Some(bytes)), Ok(None) or Err


@dataclass(frozen=True)
class ServerKeepAlive:
    pass


# --- data ------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Fragment:
    """Values of one column: numeric `values` (numpy, the type's dtype; 128-bit as V16) or,
    for strings, `offsets` (n + 1, int32 or int64) into `values` (uint8 UTF-8 bytes); sparse
    types add `index` (uint32 row of each value)."""

    type: ColumnType
    values: np.ndarray
    index: np.ndarray | None = None
    offsets: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.offsets) - 1 if self.offsets is not None else len(self.values)

    def strings(self) -> list[str]:
        data = self.values.tobytes()
        offsets = self.offsets.tolist()
        return [data[offsets[i]:offsets[i + 1]].decode() for i in range(len(offsets) - 1)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fragment) or self.type != other.type:
            return False
        if self.type.is_string:
            if self.strings() != other.strings():
                return False
        elif not np.array_equal(self.values.view(np.uint8), other.values.view(np.uint8)):
            return False
        if (self.index is None) != (other.index is None):
            return False
        return self.index is None or np.array_equal(self.index, other.index)

    def __repr__(self) -> str:
        values = self.strings() if self.type.is_string else self.values.tolist()
        index = "" if self.index is None else f", index={self.index.tolist()}"
        return f"Fragment({self.type.name}, {values}{index})"


class ScanComparison(enum.IntEnum):
    LT = 0
    LT_EQ = 1
    EQ = 2
    GT_EQ = 3
    GT = 4
    NOT_EQ = 5
    IN = 6
    STARTS_WITH = 7
    ENDS_WITH = 8
    CONTAINS = 9
    MATCHES = 10


# FilterVal variants: 0..9 the integer types in BlockType order (I8 I16 I32 I64 I128 U8 U16
# U32 U64 U128), 10 String.
FILTER_VAL_TYPES = ("i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128",
                    "string")


@dataclass(frozen=True)
class FilterVal:
    variant: int  # index into FILTER_VAL_TYPES
    value: int | str


@dataclass(frozen=True)
class ScanFilter:
    column: int
    op: ScanComparison
    value: FilterVal


@dataclass(frozen=True)
class StreamConfig:
    row_limit: int
    threshold: int = 0
    state: int | None = None  # StreamState.skip_chunks


@dataclass(frozen=True)
class ScanRequest:
    min_ts: int
    max_ts: int
    partition_ids: tuple[bytes, ...] = ()  # 16 raw bytes each
    projection: tuple[int, ...] = ()
    filters: tuple[tuple[ScanFilter, ...], ...] = ()
    stream: StreamConfig | None = None


@dataclass(frozen=True, eq=False)
class InsertMessage:
    timestamps: np.ndarray  # uint64
    source: int
    columns: tuple[dict[int, Fragment], ...]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, InsertMessage) and self.source == other.source
                and np.array_equal(self.timestamps, other.timestamps)
                and self.columns == other.columns)


@dataclass(frozen=True)
class ReplyColumn:
    type: ColumnType
    id: int
    name: str


@dataclass(frozen=True)
class PartitionInfo:
    min_ts: int
    max_ts: int
    id: bytes  # 16 raw bytes
    location: str


@dataclass(frozen=True)
class DataTriple:
    column_id: int
    column_type: ColumnType
    data: Fragment | None


@dataclass(frozen=True)
class ScanResult:
    data: tuple[DataTriple, ...]
    stream_state: int | None = None


class ErrorKind(enum.IntEnum):
    COLUMN_NAME_ALREADY_EXISTS = 0
    COLUMN_ID_ALREADY_EXISTS = 1
    COLUMN_NAME_CANNOT_BE_EMPTY = 2
    NO_DATA = 3
    INCONSISTENT_DATA = 4
    INVALID_SCAN_REQUEST = 5
    CATALOG_ERROR = 6
    SCAN_ERROR = 7
    UNKNOWN = 8


@dataclass(frozen=True)
class ApiError:
    """An Err of the API; `detail` is the text (an int for COLUMN_ID_ALREADY_EXISTS, None for
    COLUMN_NAME_CANNOT_BE_EMPTY)."""

    kind: ErrorKind
    detail: Any = ""


# --- API requests ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListColumns:
    TAG = 0


@dataclass(frozen=True)
class Insert:
    message: InsertMessage
    TAG = 1


@dataclass(frozen=True)
class Scan:
    request: ScanRequest
    TAG = 2


@dataclass(frozen=True)
class RefreshCatalog:
    TAG = 3


@dataclass(frozen=True)
class AddColumn:
    name: str
    type: ColumnType
    TAG = 4


@dataclass(frozen=True)
class Flush:
    TAG = 5


@dataclass(frozen=True)
class DataCompaction:
    TAG = 6


@dataclass(frozen=True)
class AddColumnIndex:
    column_id: int
    index_type: int = 0  # Bloom, the only kind
    TAG = 7


@dataclass(frozen=True)
class OtherRequest:
    TAG = 8


Request = Union[ListColumns, Insert, Scan, RefreshCatalog, AddColumn, Flush, DataCompaction,
                AddColumnIndex, OtherRequest]


# --- API replies --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListColumnsReply:
    columns: tuple[ReplyColumn, ...]
    TAG = 0


@dataclass(frozen=True)
class InsertReply:
    result: int | ApiError  # rows inserted
    TAG = 1


@dataclass(frozen=True)
class ScanReply:
    result: ScanResult | ApiError
    TAG = 2


@dataclass(frozen=True)
class RefreshCatalogReply:
    columns: tuple[ReplyColumn, ...]
    partitions: tuple[PartitionInfo, ...] = field(default=())
    TAG = 3


@dataclass(frozen=True)
class AddColumnReply:
    result: int | ApiError  # the new column's id
    TAG = 4


@dataclass(frozen=True)
class FlushReply:
    TAG = 5


@dataclass(frozen=True)
class DataCompactionReply:
    TAG = 6


@dataclass(frozen=True)
class AddColumnIndexReply:
    result: int | ApiError
    TAG = 7


@dataclass(frozen=True)
class SerializeErrorReply:
    text: str
    TAG = 8


@dataclass(frozen=True)
class OtherReply:
    TAG = 9


Reply = Union[ListColumnsReply, InsertReply, ScanReply, RefreshCatalogReply, AddColumnReply,
              FlushReply, DataCompactionReply, AddColumnIndexReply, SerializeErrorReply,
              OtherReply]
