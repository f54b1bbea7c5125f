"""Shared memory between a worker and the writer: batches travel without being copied.

A worker writes each record batch (an Arrow IPC stream) into its ring, a file in /dev/shm
both processes map, and sends only where it is (offset, size) over its pipe; the writer reads
the batch in place, appends it to hyena, and answers b"ack", which frees the oldest region.
Through the pipe, a 2 MB batch would be copied twice more and land in freshly allocated
memory on the writer's side, which on this kind of VM is the slow part (pages faulted in at
~0.45 GB/s). Regions are freed in the order they were written (the writer appends each
worker's batches in order), so the ring is a FIFO of contiguous regions.
"""
from __future__ import annotations

import collections
import mmap
import os
import tempfile
from typing import Callable

import pyarrow as pa

__all__ = ["Ring", "RingReader", "RING_SIZE", "ACK"]

RING_SIZE = 64 << 20  # per worker: ~25 batches of 4096 SIP packets in flight
ACK = b"ack"
_SHM = "/dev/shm"


class Ring:
    """The worker's side: writes batches, waits for acknowledgements when full."""

    def __init__(self, size: int = RING_SIZE, directory: str = _SHM) -> None:
        fd, self.path = tempfile.mkstemp(prefix="hepserver-ring-", dir=directory)
        try:
            os.ftruncate(fd, size)
            self.map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.size = size
        self.head = 0
        self.in_flight: collections.deque[tuple[int, int]] = collections.deque()

    @classmethod
    def create(cls, size: int = RING_SIZE) -> "Ring | None":
        """A ring in /dev/shm, or None where there is none (batches then go by pipe)."""
        try:
            return cls(size)
        except OSError:
            return None

    def _place(self, size: int) -> int | None:
        """Where `size` bytes fit now, or None."""
        if not self.in_flight:
            self.head = 0
            return 0 if size <= self.size else None
        tail = self.in_flight[0][0]
        if self.head > tail:  # free: [head, end) and [0, tail)
            if size <= self.size - self.head:
                return self.head
            return 0 if size <= tail else None
        return self.head if size <= tail - self.head else None  # free: [head, tail)

    def write(self, batch: pa.RecordBatch, wait: Callable[[], None]) -> tuple[int, int] | None:
        """Write `batch` as an IPC stream; (offset, size), or None when it can never fit.
        `wait()` is called while the ring is full: it must block until an ack (release())."""
        mock = pa.MockOutputStream()
        with pa.ipc.new_stream(mock, batch.schema) as writer:
            writer.write_batch(batch)
        size = mock.size()
        if size > self.size // 2:
            return None
        while (offset := self._place(size)) is None:
            wait()
        target = pa.FixedSizeBufferWriter(pa.py_buffer(memoryview(self.map)[offset:offset + size]))
        with pa.ipc.new_stream(target, batch.schema) as writer:
            writer.write_batch(batch)
        self.head = offset + size
        self.in_flight.append((offset, size))
        return offset, size

    def release(self) -> None:
        """The writer is done with the oldest batch."""
        if self.in_flight:
            self.in_flight.popleft()

    def unlink(self) -> None:
        """Remove the file (the mappings stay valid); the writer does this once it mapped it."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class RingReader:
    """The writer's side: maps a worker's ring and reads batches where they are."""

    def __init__(self, path: str, size: int) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            self.map = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        try:
            os.unlink(path)  # nothing is left behind, whoever exits first
        except FileNotFoundError:
            pass

    def read(self, offset: int, size: int) -> pa.Table:
        """The batch at offset (its buffers point into the ring: use it before acking)."""
        return pa.ipc.open_stream(pa.py_buffer(memoryview(self.map)[offset:offset + size])) \
            .read_all()
