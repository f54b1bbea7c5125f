"""Block, index and pool files: a 64-byte header, then raw little-endian values written in order.

Writers append with pwrite (a full disk then surfaces as an error from a syscall, never as a
SIGBUS from a store into a mapped page); readers map the same files read-only (`mapcache`).
Space is reserved with fallocate just ahead of the write position, in steps, so the part of a
block that was never reached stays a hole and uses no disk.
"""
from __future__ import annotations

import struct
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hyena.errors import CorruptFileError, FormatVersionError
from hyena.storage.format import (BLOCK_MAGIC, BLOOM_MAGIC, DICT_MAGIC, FILE_HEADER_SIZE,
                                  FORMAT_VERSION, INDEX_MAGIC, POOL_MAGIC)
from hyena.storage.fs import FileOps

__all__ = ["FileHeader", "BlockFile", "read_header", "ALLOCATION_STEP", "HEADER_CAPACITY_OFFSET"]

# fallocate granularity: large enough to keep syscalls rare, small enough for sparse columns.
ALLOCATION_STEP = 64 * 1024

_HEADER = struct.Struct("<8sHHIIIQ16s16x")
assert _HEADER.size == FILE_HEADER_SIZE
_MAGICS = (BLOCK_MAGIC, INDEX_MAGIC, POOL_MAGIC, BLOOM_MAGIC, DICT_MAGIC)
HEADER_CAPACITY_OFFSET = 24


@dataclass(frozen=True)
class FileHeader:
    """What a block-like file says about itself."""

    magic: bytes
    column_type: int
    column_id: int
    element_width: int
    capacity: int  # bytes of payload after the header
    partition_id: uuid.UUID
    version: int = FORMAT_VERSION

    def pack(self) -> bytes:
        return _HEADER.pack(self.magic, self.version, self.column_type, self.column_id,
                            self.element_width, 0, self.capacity, self.partition_id.bytes)


def read_header(data: bytes, path: Path | str) -> FileHeader:
    if len(data) < FILE_HEADER_SIZE:
        raise CorruptFileError(path, "file shorter than its header", size=len(data))
    magic, version, ctype, cid, width, _, capacity, pid = _HEADER.unpack_from(data)
    if magic not in _MAGICS:
        raise CorruptFileError(path, "wrong magic", found=magic)
    if version != FORMAT_VERSION:
        raise FormatVersionError(path, FORMAT_VERSION, version)
    return FileHeader(magic, ctype, cid, width, capacity, uuid.UUID(bytes=pid), version)


class BlockFile:
    """A block-like file that values are appended to (one writer thread at a time).

    A *transient* file gives its descriptor back after every operation: a batch that fills
    many partitions at once then holds one descriptor at a time for them, not one per file.
    """

    __slots__ = ("fs", "path", "fd", "capacity", "allocated", "preallocate", "written",
                 "synced", "transient", "closed", "_lock")

    def __init__(self, fs: FileOps, path: Path, fd: int, capacity: int, preallocate: bool,
                 allocated: int = 0, transient: bool = False) -> None:
        self.fs = fs
        self.path = path
        self.fd = fd
        self.capacity = capacity
        self.allocated = allocated  # payload bytes known to be backed by disk blocks
        self.preallocate = preallocate
        # Writes and syncs are counted, so a sync racing with a write never marks it durable.
        self.written = 0
        self.synced = 0
        self.transient = transient
        self.closed = False
        self._lock = threading.Lock()  # the writeback thread syncs and closes sealed files

    @classmethod
    def create(cls, fs: FileOps, path: Path, header: FileHeader, preallocate: bool,
               transient: bool = False) -> "BlockFile":
        """Create the file with its header and a payload region that is a hole until written."""
        fd = fs.open_rw(path, create=True)
        try:
            fs.set_size(fd, FILE_HEADER_SIZE + header.capacity, path)
            if preallocate:
                fs.allocate(fd, 0, FILE_HEADER_SIZE, path)
            fs.pwrite(fd, header.pack(), 0, path)
        except BaseException:
            fs.close(fd)
            fs.unlink(path)
            raise
        block = cls(fs, path, fd, header.capacity, preallocate, transient=transient)
        block.written = 1
        if transient:
            block._release()
        return block

    @classmethod
    def open(cls, fs: FileOps, path: Path, preallocate: bool, used: int) -> "BlockFile":
        """Reopen an existing file for appending after `used` payload bytes."""
        fd = fs.open_rw(path)
        try:
            header = read_header(fs.pread(fd, FILE_HEADER_SIZE, 0, path), path)
        except BaseException:
            fs.close(fd)
            raise
        # Space before `used` was written already; reserve again from there on.
        return cls(fs, path, fd, header.capacity, preallocate, allocated=used)

    @contextmanager
    def _descriptor(self) -> Iterator[int]:
        with self._lock:
            if self.fd < 0:
                if self.closed:
                    raise ValueError(f"block file is closed: {self.path}")
                self.fd = self.fs.open_rw(self.path)
            try:
                yield self.fd
            finally:
                if self.transient:
                    self._release()

    def _release(self) -> None:
        if self.fd >= 0:
            self.fs.close(self.fd)
            self.fd = -1

    def reserve(self, end: int) -> None:
        """Make sure payload bytes [0, end) can be written without running out of space."""
        if end > self.capacity:
            raise ValueError(f"write past capacity of {self.path}: {end} > {self.capacity}")
        if not self.preallocate or end <= self.allocated:
            return
        target = min(self.capacity, -(-end // ALLOCATION_STEP) * ALLOCATION_STEP)
        with self._descriptor() as fd:
            self.fs.allocate(fd, FILE_HEADER_SIZE + self.allocated, target - self.allocated,
                             self.path)
        self.allocated = target

    def grow(self, capacity: int) -> None:
        """Extend the payload region (string pools grow as strings arrive)."""
        if capacity <= self.capacity:
            return
        with self._descriptor() as fd:
            self.fs.set_size(fd, FILE_HEADER_SIZE + capacity, self.path)
            self.fs.pwrite(fd, struct.pack("<Q", capacity), HEADER_CAPACITY_OFFSET, self.path)
        self.capacity = capacity
        self.written += 1

    def write(self, offset: int, data: memoryview | bytes) -> None:
        """Write payload bytes at `offset` (callers reserve first)."""
        if len(data):
            with self._descriptor() as fd:
                self.fs.pwrite(fd, data, FILE_HEADER_SIZE + offset, self.path)
                self.written += 1

    @property
    def dirty(self) -> bool:
        return self.written != self.synced

    def sync(self) -> None:
        """Make every write so far durable; a no-op once closed (closing syncs first)."""
        generation = self.written
        if self.closed or generation == self.synced:
            return
        with self._descriptor() as fd:
            self.fs.fdatasync(fd, self.path)
        self.synced = generation

    def drop_cache(self) -> None:
        if not self.closed:
            with self._descriptor() as fd:
                self.fs.drop_cache(fd)

    def close(self) -> None:
        """Give the descriptor back for good (sync first where the data must last)."""
        with self._lock:
            self._release()
            self.closed = True
