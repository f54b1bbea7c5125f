"""Every public exception of hyena. No other module defines exceptions a user is meant to catch.

Messages follow "what went wrong [key=value, ...]" so logs and error replies carry their context.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "HyenaError",
    "StorageError", "CorruptFileError", "FormatVersionError", "DiskFullError", "LockedError",
    "ClosedError",
    "CatalogError", "ColumnExistsError", "ColumnNameError", "UnknownColumnError", "IndexExistsError",
    "InvalidDataError",
    "ScanError", "InvalidScanError",
    "ProtocolError", "DecodeError", "RequestError",
    "ClientError", "ServerGoneError", "RequestTimeoutError", "RemoteError",
]


def _context(message: str, context: dict[str, Any]) -> str:
    if not context:
        return message
    return f"{message} [{', '.join(f'{k}={v}' for k, v in context.items())}]"


class HyenaError(Exception):
    """Base of every hyena error."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(_context(message, context))
        self.message = message
        self.context = context


# --- storage ---------------------------------------------------------------------------------

class StorageError(HyenaError):
    """The data directory could not be read or written."""


class CorruptFileError(StorageError):
    """A file is torn, truncated or fails its checksum; `path` names it."""

    def __init__(self, path: Any, reason: str, **context: Any) -> None:
        super().__init__(f"corrupt file: {reason}", path=path, **context)
        self.path = str(path)
        self.reason = reason


class FormatVersionError(StorageError):
    """A file was written by a format version this code does not read."""

    def __init__(self, path: Any, expected: int, found: int) -> None:
        super().__init__("unsupported format version", path=path, expected=expected, found=found)
        self.path = str(path)
        self.expected = expected
        self.found = found


class DiskFullError(StorageError):
    """Allocating space failed (ENOSPC/EDQUOT); nothing of the failed append is visible."""


class LockedError(StorageError):
    """Another process holds the writer lock of the data directory."""


class ClosedError(HyenaError):
    """The database (or client) was closed."""


# --- catalog and input ---------------------------------------------------------------------

class CatalogError(HyenaError):
    """A schema change was refused."""


class ColumnExistsError(CatalogError):
    """A column with that name already exists."""


class ColumnNameError(CatalogError):
    """A column name is empty or otherwise unusable."""


class UnknownColumnError(CatalogError, KeyError):
    """No column has that id or name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class IndexExistsError(CatalogError):
    """The column already has an index of that kind."""


class InvalidDataError(HyenaError, ValueError):
    """An append was rejected before anything was written (lengths, types, ranges, indexes)."""


# --- scans ------------------------------------------------------------------------------------

class ScanError(HyenaError):
    """A scan failed while running."""


class InvalidScanError(ScanError, ValueError):
    """A scan request is malformed: unknown column, mismatched value type, bad regex, bad range."""


# --- wire protocol ----------------------------------------------------------------------------

class ProtocolError(HyenaError):
    """A wire message could not be handled."""


class DecodeError(ProtocolError):
    """Bytes from the peer do not decode (truncated, unknown tag, bad UTF-8, oversized length)."""


class RequestError(ProtocolError):
    """A well-formed message that the caller should not have sent."""


# --- client -----------------------------------------------------------------------------------

class ClientError(HyenaError):
    """Base of errors raised by `hyena.client`."""


class ServerGoneError(ClientError):
    """The server did not answer the connection or the session socket went away."""


class RequestTimeoutError(ClientError, TimeoutError):
    """No reply within the client's timeout."""


class RemoteError(ClientError):
    """The server answered with an error reply; `kind` is the protocol's error variant name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message, kind=kind)
        self.kind = kind
