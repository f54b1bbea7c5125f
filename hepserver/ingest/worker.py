"""A worker process: receive HEP on its share of the sockets, decode, parse SIP, batch rows,
and ship the batches to the writer in the daemon process.

Workers do the CPU-heavy part (decoding and parsing) in parallel; one writer appends. When
the writer falls behind, `send` blocks, the worker stops reading, TCP senders are slowed down
by their full windows (back-pressure), and UDP datagrams pile up in the kernel, which drops
and counts them when its buffer is full (read from /proc/net/udp by the daemon).

TCP carries HEP frames back to back. Bytes that are not a frame (wrong magic, a length below 6)
are skipped up to the next `HEP3` magic (counted as `rejected:stream_garbage`); a connection
that sends more than MAX_STREAM_BUFFER bytes without a complete frame is closed.
"""
from __future__ import annotations

import pickle
import selectors
from collections import Counter
import signal
import socket
import ssl
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa

from hepserver.hep.decode import decode, find_resync, frame_length
from hepserver.hep.errors import HepDecodeError
from hepserver.ingest.listeners import SocketSet
from hepserver.ingest.rows import RowBuffer
from hepserver.sip.parser import parse_sip

__all__ = ["WorkerSettings", "run_worker", "Worker", "MAX_STREAM_BUFFER"]

MAX_STREAM_BUFFER = 1 << 20
_SIP = 1


@dataclass(frozen=True)
class WorkerSettings:
    batch_rows: int = 4096  # ship a HEP type's rows when this many are waiting ...
    batch_delay: float = 0.2  # ... or when the oldest has waited this long (seconds)
    auth_key: bytes | None = None  # when set, packets must carry this key
    tls_cert: str | None = None
    tls_key: str | None = None


class _Stream:
    """A TCP (or TLS) connection and the bytes of its unfinished frame."""

    __slots__ = ("sock", "buffer", "peer", "handshaking")

    def __init__(self, sock: socket.socket, peer: Any, handshaking: bool = False) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.peer = peer
        self.handshaking = handshaking


class Worker:
    def __init__(self, sockets: SocketSet, settings: WorkerSettings, ship: Any) -> None:
        self.sockets = sockets
        self.settings = settings
        self.ship = ship  # ship(message bytes): blocks while the writer is behind
        self.counters: Counter[str] = Counter()  # one thread: no lock needed
        self.buffers: dict[int, RowBuffer] = {}
        self.oldest = 0.0
        self.selector = selectors.DefaultSelector()
        self.tls = None
        if settings.tls_cert:
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(settings.tls_cert, settings.tls_key)
            # No TLS 1.3 session tickets: a sender that closes without reading them would
            # make its kernel reset the connection, and a reset throws away what we had not
            # read yet.
            self.tls.num_tickets = 0
        for sock in sockets.udp:
            self.selector.register(sock, selectors.EVENT_READ, self._datagrams)
        for sock in sockets.tcp:
            self.selector.register(sock, selectors.EVENT_READ, self._accept)
        for sock in sockets.tls:
            self.selector.register(sock, selectors.EVENT_READ, self._accept_tls)

    # --- packets -------------------------------------------------------------------------

    def handle(self, data: bytes, arrival_us: int) -> None:
        """Decode one HEP packet and buffer its row; bad packets are counted by reason."""
        counters = self.counters
        counters["received"] += 1
        counters["bytes"] += len(data)
        try:
            packet = decode(data, arrival_us)
        except HepDecodeError as exc:
            counters["rejected:" + exc.reason] += 1
            return
        key = self.settings.auth_key
        if key is not None and packet.auth_key != key:
            counters["rejected:auth"] += 1
            return
        sip = None
        if packet.proto_type == _SIP and packet.payload:
            try:
                sip = parse_sip(packet.payload)
            except Exception:  # the parser's own errors: stored raw, never dropped
                sip = None
            counters["sip_parsed" if sip is not None else "sip_unparsed"] += 1
        buffer = self.buffers.get(packet.proto_type)
        if buffer is None:
            buffer = self.buffers[packet.proto_type] = RowBuffer()
        if not self.oldest:
            self.oldest = time.monotonic()
        buffer.add(packet, sip)
        counters["decoded"] += 1

    def ship_ready(self, force: bool = False) -> None:
        """Ship every buffer that is full, or all of them when the oldest row is due."""
        due = force or (self.oldest and time.monotonic() - self.oldest >= self.settings.batch_delay)
        for source, buffer in self.buffers.items():
            if len(buffer) and (due or len(buffer) >= self.settings.batch_rows):
                self._ship(source, buffer.take())
        if due:
            self.oldest = 0.0

    def _ship(self, source: int, batch: pa.RecordBatch) -> None:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        self.ship(pickle.dumps(("batch", source, self._take_counters(),
                                sink.getvalue().to_pybytes()), protocol=5))

    def _take_counters(self) -> dict[str, int]:
        counts, self.counters = dict(self.counters), Counter()
        return counts

    def ship_counters(self) -> None:
        counts = self._take_counters()
        if counts:
            self.ship(pickle.dumps(("counters", counts), protocol=5))

    # --- sockets -------------------------------------------------------------------------

    def poll(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            key.data(key.fileobj)

    def _datagrams(self, sock: socket.socket) -> None:
        now = time.time_ns() // 1000
        for _ in range(512):  # bounded, so TCP and shipping get their turn
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            except OSError:
                return
            self.handle(data, now)

    def _accept(self, listener: socket.socket, tls: bool = False) -> None:
        try:
            conn, peer = listener.accept()
        except (BlockingIOError, OSError):
            return
        conn.setblocking(False)
        if tls:
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        self.counters["tcp_connections"] += 1
        self.selector.register(conn, selectors.EVENT_READ,
                               lambda s, st=_Stream(conn, peer, tls): self._stream(st))

    def _accept_tls(self, listener: socket.socket) -> None:
        self._accept(listener, tls=True)

    def _stream(self, stream: _Stream) -> None:
        try:
            if stream.handshaking:
                stream.sock.do_handshake()
                stream.handshaking = False
            data = stream.sock.recv(262144)
            if isinstance(stream.sock, ssl.SSLSocket):
                # TLS hands out one record per recv; what it already decrypted would not wake
                # the selector again
                while data and stream.sock.pending():
                    data += stream.sock.recv(stream.sock.pending())
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return
        except (OSError, ssl.SSLError):
            self.counters["rejected:tls" if stream.handshaking else "tcp_errors"] += 1
            self._close(stream)
            return
        if not data:
            if stream.buffer:
                self.counters["rejected:truncated_stream"] += 1
            self._close(stream)
            return
        stream.buffer += data
        self._frames(stream)

    def _frames(self, stream: _Stream) -> None:
        buffer = stream.buffer
        now = time.time_ns() // 1000
        start = 0
        while True:
            try:
                length = frame_length(memoryview(buffer)[start:])
            except HepDecodeError:
                self.counters["rejected:stream_garbage"] += 1
                found = find_resync(buffer, start + 1)
                if found is None:
                    start = max(start, len(buffer) - 3)  # a magic may be split: keep 3 bytes
                    break
                start = found
                continue
            if length is None or len(buffer) - start < length:
                break
            self.handle(bytes(buffer[start:start + length]), now)
            start += length
        if start:
            del buffer[:start]
        if len(buffer) > MAX_STREAM_BUFFER:
            self.counters["rejected:stream_overflow"] += 1
            self._close(stream)

    def _close(self, stream: _Stream) -> None:
        try:
            self.selector.unregister(stream.sock)
        except (KeyError, ValueError):
            pass
        stream.sock.close()

    def stop_listening(self) -> None:
        """Take what the kernel already queued for us, then close every listening socket."""
        for sock in self.sockets.udp:
            for _ in range(10_000):
                before = self.counters["received"]
                self._datagrams(sock)
                if self.counters["received"] == before:
                    break
        for sock in self.sockets.all():
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()

    def drain_streams(self) -> None:
        """Read what connected senders already sent, then close them."""
        for key in list(self.selector.get_map().values()):
            if isinstance(key.fileobj, socket.socket) and key.fileobj.fileno() >= 0:
                key.data(key.fileobj)
                try:
                    self.selector.unregister(key.fileobj)
                except (KeyError, ValueError):
                    pass
                key.fileobj.close()


def run_worker(sockets: SocketSet, settings: WorkerSettings, conn: Connection) -> None:
    """Process entry point: serve until the daemon sends "stop", then ship everything."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when to stop
    worker = Worker(sockets, settings, conn.send_bytes)
    worker.selector.register(conn, selectors.EVENT_READ, lambda c: None)
    last_counters = time.monotonic()
    try:
        while True:
            worker.poll(0.05)
            if conn.poll():
                message = conn.recv_bytes()
                if message == b"stop":
                    break
            worker.ship_ready()
            if time.monotonic() - last_counters >= 1.0:
                worker.ship_counters()
                last_counters = time.monotonic()
        worker.stop_listening()
        worker.drain_streams()
        worker.ship_ready(force=True)
        worker.ship_counters()
        conn.send_bytes(pickle.dumps(("done",)))
    except (BrokenPipeError, EOFError):
        pass  # the daemon is gone
    finally:
        conn.close()
