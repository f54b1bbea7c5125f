"""Where a worker's packets wait for the next batch: one 64 KiB slot each in a reusable area.

Datagrams are read with recvmmsg(2) straight into the slots, hundreds per system call, where
the batch decoder reads them in place; a `recv()` per datagram would cost a Python call, a new
bytes object and a system call for every packet. TCP frames are copied into the next slot.
The area is allocated once (virtual memory; only the pages packets touch become resident) and
reused, so the kernel never has to fault in fresh pages for it. Where the C library has no
recvmmsg, `receive` falls back to recv_into per datagram. TCP streams are split into frames by
a kernel (`take_frames`) that copies them into slots, not by a Python loop per frame.
"""
from __future__ import annotations

import ctypes
import errno
import mmap
import os
import socket
import sys

import numpy as np

from hyena.kernels._jit import kernel

__all__ = ["Slots", "SLOT", "MORE", "GARBAGE", "FULL"]

SLOT = 1 << 16  # larger than any datagram (65,507 bytes of UDP payload at most)
_MSG_DONTWAIT = 0x40


MORE, GARBAGE, FULL = 0, 1, 2


@kernel
def _take_frames(stream: np.ndarray, pos: int, data: np.ndarray, starts: np.ndarray,
                 lengths: np.ndarray, first: int, capacity: int) -> tuple:
    """Frames as hepserver.hep.decode.frame_length delimits them: "HEP3" or "EEP3", then a
    big-endian length of at least 6 that covers the header."""
    end = stream.shape[0]
    i = first
    while i < capacity:
        if end - pos < 6:
            return pos, i, MORE
        m0 = stream[pos]
        if not ((m0 == 72 or m0 == 69) and stream[pos + 1] == 69 and stream[pos + 2] == 80
                and stream[pos + 3] == 51):
            return pos, i, GARBAGE
        length = (np.int64(stream[pos + 4]) << 8) | np.int64(stream[pos + 5])
        if length < 6:
            return pos, i, GARBAGE
        if end - pos < length:
            return pos, i, MORE
        source = stream[pos:pos + length]
        target = data[starts[i]:starts[i] + length]
        for k in range(source.shape[0]):
            target[k] = source[k]
        lengths[i] = length
        i += 1
        pos += length
    return pos, i, FULL


def _recvmmsg():
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).recvmmsg
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                         ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


_RECVMMSG = _recvmmsg()


class Slots:
    """`capacity` packets of up to 64 KiB: packet i is data[i * SLOT:][:lengths[i]]."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.area = mmap.mmap(-1, capacity * SLOT)
        self.data = np.frombuffer(self.area, np.uint8)
        self.lengths = np.zeros(capacity, np.int64)
        self.arrivals = np.zeros(capacity, np.int64)
        self.count = 0
        self.nbytes = 0
        self.starts = np.arange(capacity, dtype=np.int64) * SLOT
        # struct iovec {void *base; size_t len} per slot, and struct mmsghdr (8 words:
        # msghdr's name, namelen, iov, iovlen, control, controllen, flags; then msg_len)
        base = self.data.ctypes.data
        self._iov = np.empty((capacity, 2), np.uint64)
        self._iov[:, 0] = base + self.starts.astype(np.uint64)
        self._iov[:, 1] = SLOT
        self._msgs = np.zeros((capacity, 8), np.uint64)
        self._msgs[:, 2] = self._iov.ctypes.data + np.arange(capacity, dtype=np.uint64) * 16
        self._msgs[:, 3] = 1
        self._msg_len = self._msgs[:, 7]

    @property
    def free(self) -> int:
        return self.capacity - self.count

    def receive(self, sock: socket.socket, arrival_us: int, limit: int) -> int:
        """Read up to `limit` queued datagrams (no more than the free slots); how many."""
        first = self.count
        want = min(limit, self.capacity - first)
        if want <= 0:
            return 0
        if _RECVMMSG is None:
            return self._receive_one_by_one(sock, arrival_us, want)
        got = _RECVMMSG(sock.fileno(), self._msgs.ctypes.data + first * 64, want,
                        _MSG_DONTWAIT, None)
        if got <= 0:
            if got < 0 and ctypes.get_errno() not in (errno.EAGAIN, errno.EWOULDBLOCK,
                                                      errno.EINTR):
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
            return 0
        last = first + got
        lengths = self._msg_len[first:last] & np.uint64(0xFFFFFFFF)
        self.lengths[first:last] = lengths
        self.arrivals[first:last] = arrival_us
        self.nbytes += int(lengths.sum())
        self.count = last
        return got

    def _receive_one_by_one(self, sock: socket.socket, arrival_us: int, want: int) -> int:
        view = memoryview(self.area)
        got = 0
        while got < want:
            i = self.count
            try:
                n = sock.recv_into(view[i * SLOT:(i + 1) * SLOT], SLOT)
            except OSError:  # BlockingIOError: nothing more queued
                break
            self.lengths[i] = n
            self.arrivals[i] = arrival_us
            self.nbytes += n
            self.count += 1
            got += 1
        return got

    def add(self, packet: bytes | bytearray | memoryview, arrival_us: int) -> None:
        """Copy one packet (a TCP frame) into the next slot; the caller checks `free`."""
        i = self.count
        n = len(packet)
        self.data[i * SLOT:i * SLOT + n] = np.frombuffer(packet, np.uint8)
        self.lengths[i] = n
        self.arrivals[i] = arrival_us
        self.nbytes += n
        self.count += 1

    def take_frames(self, stream: np.ndarray, start: int, arrival_us: int) -> tuple[int, int, int]:
        """Copy the complete HEPv3 frames of a TCP stream buffer, from `start`, into free
        slots; (where the next frame starts, frames taken, MORE / GARBAGE / FULL: why it
        stopped: an incomplete frame, bytes that are not a frame header, no free slot)."""
        first = self.count
        pos, last, why = _take_frames(stream, start, self.data, self.starts, self.lengths,
                                      first, self.capacity)
        self.arrivals[first:last] = arrival_us
        self.nbytes += int(self.lengths[first:last].sum())
        self.count = last
        return pos, last - first, why

    def packet(self, i: int) -> bytes:
        return bytes(self.data[i * SLOT:i * SLOT + self.lengths[i]])

    def clear(self) -> None:
        self.count = 0
        self.nbytes = 0
