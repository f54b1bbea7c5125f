"""Metadata files: a checksummed envelope around a JSON payload, replaced atomically.

Layout (little endian): magic (8 bytes) | format version (u16) | reserved (u16, 0) |
payload length (u32) | xxh64 of the payload (u64) | payload (UTF-8 JSON).
A writer never modifies a metadata file in place: it writes `<name>.tmp`, fsyncs it, renames
it over `<name>` and fsyncs the directory, so a reader sees the old or the new file, whole.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import xxhash

from hyena.errors import CorruptFileError, FormatVersionError
from hyena.storage.format import FORMAT_VERSION, META_HEADER_SIZE, TEMP_SUFFIX
from hyena.storage.fs import FileOps

__all__ = ["encode_meta", "decode_meta", "write_meta", "read_meta"]

_HEADER = struct.Struct("<8sHHIQ")
assert _HEADER.size == META_HEADER_SIZE


def encode_meta(magic: bytes, payload: dict[str, Any], version: int = FORMAT_VERSION) -> bytes:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return _HEADER.pack(magic, version, 0, len(body), xxhash.xxh64_intdigest(body)) + body


def decode_meta(data: bytes, magic: bytes, path: Path | str,
                version: int = FORMAT_VERSION) -> dict[str, Any]:
    """Check magic, version, length and checksum; raise CorruptFileError naming `path`."""
    if len(data) < META_HEADER_SIZE:
        raise CorruptFileError(path, "shorter than its header", size=len(data))
    found_magic, found_version, _, length, checksum = _HEADER.unpack_from(data)
    if found_magic != magic:
        raise CorruptFileError(path, "wrong magic", expected=magic, found=found_magic)
    if found_version != version:
        raise FormatVersionError(path, version, found_version)
    body = data[META_HEADER_SIZE:]
    if len(body) != length:
        raise CorruptFileError(path, "payload length mismatch", expected=length, found=len(body))
    if xxhash.xxh64_intdigest(body) != checksum:
        raise CorruptFileError(path, "checksum mismatch")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(path, f"payload is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise CorruptFileError(path, "payload is not a JSON object")
    return payload


def write_meta(fs: FileOps, path: Path, magic: bytes, payload: dict[str, Any]) -> None:
    """Replace `path` atomically and durably with a new envelope around `payload`."""
    tmp = path.with_name(path.name + TEMP_SUFFIX)
    fs.write_file(tmp, encode_meta(magic, payload))
    fs.rename(tmp, path)
    fs.fsync_dir(path.parent)


def read_meta(fs: FileOps, path: Path, magic: bytes) -> dict[str, Any]:
    """Read and verify a metadata file; FileNotFoundError if it does not exist."""
    return decode_meta(fs.read_file(path), magic, path)
