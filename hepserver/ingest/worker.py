"""A worker process: receive HEP on its share of the sockets, decode, parse SIP, batch rows,
and ship the batches to the writer in the daemon process.

Datagrams are read hundreds per system call into reusable slots (receive.py) and decoded
many at a time by the fast path (columns.py: numba kernels straight to Arrow columns); the
few packets it hands back (compressed payloads, text that is not UTF-8, ...) go through the
per-packet path (decode, parse_sip, RowBuffer), which is also what
`WorkerSettings(fast_path=False)` uses for all. Batches reach the writer through a shared-
memory ring (ring.py). A worker that finds few packets per wake-up pauses for 2 ms, so it
wakes once per burst rather than once per packet (see run_worker).

Workers do the CPU-heavy part (decoding and parsing) in parallel; one writer appends. When
the writer falls behind, the ring fills and the worker waits, stops reading, TCP senders are
slowed down by their full windows (back-pressure), and UDP datagrams pile up in the kernel,
which drops and counts them when its buffer is full (read from /proc/net/udp by the daemon).

TCP carries HEP frames back to back. Bytes that are not a frame (wrong magic, a length below 6)
are skipped up to the next `HEP3` magic (counted as `rejected:stream_garbage`); a connection
that sends more than MAX_STREAM_BUFFER bytes without a complete frame is closed.
"""
from __future__ import annotations

import pickle
import selectors
import signal
import socket
import ssl
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pyarrow as pa

import hyena
from hepserver.hep.decode import decode, find_resync, frame_length
from hepserver.hep.errors import HepDecodeError
from hepserver.ingest.columns import decode_packets, decode_spans, sample_packets
from hepserver.ingest.listeners import SocketSet
from hepserver.ingest.receive import FULL, GARBAGE, Slots
from hepserver.ingest.ring import ACK, Ring
from hepserver.ingest.rows import RowBuffer
from hepserver.sip.parser import parse_sip

__all__ = ["WorkerSettings", "run_worker", "Worker", "MAX_STREAM_BUFFER", "warm_up"]

MAX_STREAM_BUFFER = 1 << 20
MAX_PENDING_BYTES = 16 << 20  # decode once this much is waiting, whatever the row count
COALESCE_BELOW = 256  # packets per wake-up under which the worker pauses ...
COALESCE_SLEEP = 0.002  # ... this long (seconds) before looking again
_SIP = 1


@dataclass(frozen=True)
class WorkerSettings:
    batch_rows: int = 4096  # ship a HEP type's rows when this many are waiting ...
    batch_delay: float = 0.2  # ... or when the oldest has waited this long (seconds)
    auth_key: bytes | None = None  # when set, packets must carry this key
    tls_cert: str | None = None
    tls_key: str | None = None
    fast_path: bool = True  # False: every packet through decode + parse_sip + RowBuffer


class _Stream:
    """A TCP (or TLS) connection and the bytes of its unfinished frame."""

    __slots__ = ("sock", "buffer", "peer", "handshaking")

    def __init__(self, sock: socket.socket, peer: Any, handshaking: bool = False) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.peer = peer
        self.handshaking = handshaking


class Worker:
    def __init__(self, sockets: SocketSet, settings: WorkerSettings, ship: Any,
                 ship_batch: Any = None) -> None:
        self.sockets = sockets
        self.settings = settings
        self.ship = ship  # ship(message bytes): blocks while the writer is behind
        # ship_batch(source, counters, batch): by default a header, then the IPC stream
        self.ship_batch = ship_batch or self._ship_inline
        self.counters: Counter[str] = Counter()  # one thread: no lock needed
        self.buffers: dict[int, RowBuffer] = {}  # rows of the per-packet path, by HEP type
        # packets waiting for the fast path
        self.slots = Slots(settings.batch_rows) if settings.fast_path else None
        self.arrived = 0  # packets read from the sockets so far
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
        """Take one HEP packet: decoded with the next batch (or at once without the fast
        path); bad packets are counted by reason."""
        if not self.settings.fast_path:
            self.handle_one(data, arrival_us)
            return
        if not self.oldest:
            self.oldest = time.monotonic()
        self.slots.add(data, arrival_us)
        self._decode_if_full()

    def _decode_if_full(self) -> None:
        if not self.slots.free or self.slots.nbytes >= MAX_PENDING_BYTES:
            self.decode_pending()

    def decode_pending(self) -> None:
        """Decode the waiting packets in one go and ship their rows."""
        slots = self.slots
        if slots is None or not slots.count:
            return
        n = slots.count
        decoded = decode_spans(slots.data, slots.starts[:n], slots.lengths[:n],
                               slots.arrivals[:n], self.settings.auth_key)
        self.counters.update(decoded.counters)
        for i in decoded.slow:
            self.handle_one(slots.packet(i), int(slots.arrivals[i]))
        slots.clear()  # the batches hold copies
        for source, batch in decoded.batches.items():
            self._ship(source, batch)

    def handle_one(self, data: bytes, arrival_us: int) -> None:
        """The per-packet path: decode, parse SIP, buffer the row."""
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
        if due:
            self.decode_pending()
        for source, buffer in self.buffers.items():
            if len(buffer) and (due or len(buffer) >= self.settings.batch_rows):
                self._ship(source, buffer.take())
        if due:
            self.oldest = 0.0

    def _ship(self, source: int, batch: pa.RecordBatch) -> None:
        self.ship_batch(source, self._take_counters(), batch)

    def _ship_inline(self, source: int, counts: dict[str, int], batch: pa.RecordBatch) -> None:
        """A header message, then the batch as an Arrow IPC stream (sent without a copy)."""
        self.ship(pickle.dumps(("batch", source, counts), protocol=5))
        self.ship(ipc_stream(batch))

    def _take_counters(self) -> dict[str, int]:
        counts, self.counters = dict(self.counters), Counter()
        return counts

    def ship_counters(self) -> None:
        counts = self._take_counters()
        if counts:
            self.ship(pickle.dumps(("counters", counts), protocol=5))

    # --- sockets -------------------------------------------------------------------------

    def poll(self, timeout: float) -> int:
        """Serve the sockets that are ready; returns how many packets came in."""
        before = self.arrived
        for key, _ in self.selector.select(timeout):
            key.data(key.fileobj)
        return self.arrived - before

    def _datagrams(self, sock: socket.socket) -> int:
        """Read what is queued (up to a bound, so TCP and shipping get their turn); returns
        how many datagrams were read."""
        if not self.settings.fast_path:
            return self._datagrams_one_by_one(sock)
        try:
            count = self.slots.receive(sock, time.time_ns() // 1000, 512)
        except OSError:
            return 0
        if count:
            if not self.oldest:
                self.oldest = time.monotonic()
            self.arrived += count
            self._decode_if_full()
        return count

    def _datagrams_one_by_one(self, sock: socket.socket) -> int:
        now = time.time_ns() // 1000
        for count in range(512):
            try:
                data = sock.recv(65535)
            except OSError:
                self.arrived += count
                return count
            self.handle_one(data, now)
        self.arrived += 512
        return 512

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
        if self.slots is None:
            self._frames_one_by_one(stream)
            return
        buffer = stream.buffer
        now = time.time_ns() // 1000
        view = np.frombuffer(buffer, np.uint8)
        start = 0
        while True:
            start, got, why = self.slots.take_frames(view, start, now)
            if got:
                self.arrived += got
                if not self.oldest:
                    self.oldest = time.monotonic()
            if why == FULL:
                self.decode_pending()
            elif why == GARBAGE:
                start, resynced = self._skip_garbage(buffer, start)
                if not resynced:
                    break
            else:
                break
        del view  # the bytearray cannot be resized while a view of it exists
        self._decode_if_full()
        self._consumed(stream, start)

    def _skip_garbage(self, buffer: bytearray, start: int) -> tuple[int, bool]:
        """Bytes at `start` are not a frame (counted): (where the next `HEP3` magic is, True),
        or, without one, (where the last 3 bytes start, False): a magic may be split there."""
        self.counters["rejected:stream_garbage"] += 1
        found = find_resync(buffer, start + 1)
        if found is None:
            return max(start, len(buffer) - 3), False
        return found, True

    def _consumed(self, stream: _Stream, start: int) -> None:
        if start:
            del stream.buffer[:start]
        if len(stream.buffer) > MAX_STREAM_BUFFER:
            self.counters["rejected:stream_overflow"] += 1
            self._close(stream)

    def _frames_one_by_one(self, stream: _Stream) -> None:
        buffer = stream.buffer
        now = time.time_ns() // 1000
        start = 0
        while True:
            try:
                length = frame_length(memoryview(buffer)[start:])
            except HepDecodeError:
                start, resynced = self._skip_garbage(buffer, start)
                if not resynced:
                    break
                continue
            if length is None or len(buffer) - start < length:
                break
            self.handle(bytes(buffer[start:start + length]), now)
            self.arrived += 1
            start += length
        self._consumed(stream, start)

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
                if not self._datagrams(sock):
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


def ipc_stream(batch: pa.RecordBatch) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


class Channel:
    """The worker's end of its pipe to the daemon: batches through the shared-memory ring
    (ring.py) when there is one, acknowledgements and "stop" coming back."""

    def __init__(self, conn: Connection, ring: Ring | None) -> None:
        self.conn = conn
        self.ring = ring
        self.stopping = False

    def _handle(self, message: bytes) -> None:
        if message == ACK:
            if self.ring is not None:
                self.ring.release()
        elif message == b"stop":
            self.stopping = True

    def poll(self) -> bool:
        """Take the messages waiting; True once the daemon asked to stop."""
        while self.conn.poll():
            self._handle(self.conn.recv_bytes())
        return self.stopping

    def _wait(self) -> None:
        self._handle(self.conn.recv_bytes())  # blocks: the ring is full

    def ship_batch(self, source: int, counts: dict[str, int], batch: pa.RecordBatch) -> None:
        region = self.ring.write(batch, self._wait) if self.ring is not None else None
        if region is None:  # no ring, or a batch too large for it
            self.conn.send_bytes(pickle.dumps(("batch", source, counts), protocol=5))
            self.conn.send_bytes(ipc_stream(batch))
        else:
            self.conn.send_bytes(pickle.dumps(("batch", source, counts, *region), protocol=5))

    def ready_message(self) -> bytes:
        ring = self.ring
        return pickle.dumps(("ready", ring.path, ring.size) if ring else ("ready",))


def warm_up() -> None:
    """Load (or, the first time on a machine, compile) the fast path's kernels, so that the
    first packets do not wait for them while the socket buffer fills."""
    packets = sample_packets()
    arrivals = np.zeros(len(packets), np.int64)
    decode_packets(packets, arrivals, b"key")
    slots = Slots(len(packets))  # the receive area's layout, as in service
    stream = bytearray(b"".join(p for p in packets if p[:4] == b"HEP3"))
    slots.take_frames(np.frombuffer(stream, np.uint8), 0, 0)
    while slots.free:
        slots.add(packets[0], 0)
    decode_spans(slots.data, slots.starts, slots.lengths, slots.arrivals, None)


def run_worker(sockets: SocketSet, settings: WorkerSettings, conn: Connection) -> None:
    """Process entry point: warm up, say "ready", serve until the daemon sends "stop", then
    ship everything."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when to stop
    hyena.retain_freed_memory()
    channel = Channel(conn, Ring.create() if settings.fast_path else None)
    worker = Worker(sockets, settings, conn.send_bytes, channel.ship_batch)
    worker.selector.register(conn, selectors.EVENT_READ, lambda c: None)
    last_counters = time.monotonic()
    try:
        if settings.fast_path:
            warm_up()
        conn.send_bytes(channel.ready_message())
        while True:
            if worker.poll(0.05) < COALESCE_BELOW:
                # Few packets per wake-up: let them gather for a moment. Waking up per packet
                # costs more than the packet (here and in the sender's kernel path); the
                # socket buffers hold seconds of traffic, so this loses nothing.
                time.sleep(COALESCE_SLEEP)
            if channel.poll():
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
        if channel.ring is not None:
            channel.ring.unlink()
        conn.close()
