"""The writer: the one thread of the daemon that appends workers' batches to hyena.

It merges the workers' counters, appends each batch (a HEP type's rows) to its partition group,
and flushes hyena every `flush_interval` seconds, so what arrived is durable within about that
long. A batch hyena refuses (a full disk) is counted under `store_failed` and logged; the daemon
keeps running and stores again once there is room.

Batches arrive in a worker's shared-memory ring (ring.py: read in place, acknowledged once
appended) or, without one, as an IPC stream message after their header. Before serving, the
writer loads hyena's append kernels (`warm_up_appends`); `ready` is set once it and every
worker are warm, and the daemon waits for it before it reports that it listens.
"""
from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from multiprocessing.connection import Connection, wait

import pyarrow as pa

import hyena
from hepserver.counters import Counters
from hepserver.ingest.ring import ACK, RingReader
from hyena.errors import HyenaError

__all__ = ["Writer"]

log = logging.getLogger("hepserver.writer")


def warm_up_appends() -> None:
    """Append batches like the workers' to a throwaway database until partitions seal, so
    hyena's append kernels (and the index builders that run at sealing) are loaded with the
    types real batches have before the first one arrives: loading them under load stalls the
    writer for a second or so."""
    import tempfile

    import numpy as np

    from hepserver.ingest.columns import decode_packets, sample_packets
    from hepserver.schema import ensure_schema

    ram = "/dev/shm" if os.path.isdir("/dev/shm") else None
    packets = sample_packets() * 64
    batches = decode_packets(packets, np.zeros(len(packets), np.int64)).batches
    with tempfile.TemporaryDirectory(prefix="hepserver-warmup-", dir=ram) as tmp:
        with hyena.open(tmp, block_size=4096) as db:
            ensure_schema(db)
            for _ in range(4):
                for source, batch in batches.items():
                    db.append_arrow(source, pa.Table.from_batches([batch]))
            db.flush()


class Writer(threading.Thread):
    def __init__(self, db, connections: list[Connection], counters: Counters,
                 flush_interval: float) -> None:
        super().__init__(name="hepserver-writer", daemon=True)
        self.db = db
        self.connections = list(connections)
        self.counters = counters
        self.flush_interval = flush_interval
        self.last_flush = time.time()
        self.error: BaseException | None = None
        self.ready = threading.Event()  # set once every worker has warmed up
        self._ready: set[Connection] = set()
        self._rings: dict[Connection, RingReader] = {}
        self._warm = False

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker said it is ready to capture (its kernels are loaded)."""
        return self.ready.wait(timeout)

    def run(self) -> None:
        hyena.retain_freed_memory()  # for the whole daemon process: see hyena/memory.py
        try:
            warm_up_appends()
        except Exception:  # only a warm-up: capture works without it, a bit slower at first
            log.exception("warm-up of the append path failed")
        self._warm = True
        self._mark_ready(None)
        alive = set(self.connections)
        next_flush = time.monotonic() + self.flush_interval
        try:
            while alive:
                timeout = max(0.0, next_flush - time.monotonic())
                for conn in wait(list(alive), timeout=timeout):
                    if not self._receive(conn):
                        alive.discard(conn)
                        self._mark_ready(conn)  # a worker gone early is not waited for
                if time.monotonic() >= next_flush:
                    self._flush()
                    next_flush = time.monotonic() + self.flush_interval
            self._flush()
        except BaseException as exc:  # reported by the daemon
            self.ready.set()  # nobody waits for workers that cannot be served
            self.error = exc
            log.exception("writer stopped")

    def _mark_ready(self, conn: Connection | None) -> None:
        if conn is not None:
            self._ready.add(conn)
        if self._warm and len(self._ready) == len(self.connections):
            self.ready.set()

    def _receive(self, conn: Connection) -> bool:
        """Handle one message; False when this worker is finished (or gone)."""
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            self.counters.add("worker_lost")
            return False
        kind = message[0]
        if kind == "done":
            return False
        if kind == "ready":
            if len(message) == 3:  # the worker's shared-memory ring: (path, size)
                self._rings[conn] = RingReader(message[1], message[2])
            self._mark_ready(conn)
        elif kind == "counters":
            self.counters.merge(message[1])
        elif kind == "batch" and len(message) == 5:  # in the ring: (offset, size)
            _, source, counts, offset, size = message
            self.counters.merge(counts)
            table = self._rings[conn].read(offset, size)
            self._store(source, table)
            del table  # it points into the ring: done with it before the region is reused
            try:
                conn.send_bytes(ACK)
            except OSError:
                pass  # the worker finished (it does not wait for the last acks)
        elif kind == "batch":  # the Arrow IPC stream follows as the next message
            _, source, counts = message
            self.counters.merge(counts)
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                self.counters.add("worker_lost")
                return False
            self._store(source, pa.ipc.open_stream(pa.py_buffer(data)).read_all())
        return True

    def _store(self, source: int, table: pa.Table) -> None:
        """Append one batch; a refusal (full disk) is counted and logged, not raised."""
        try:
            self.db.append_arrow(source, table)
            self.counters.add("stored", table.num_rows)
        except HyenaError as exc:
            self.counters.add("store_failed", table.num_rows)
            log.error("could not store %d rows of HEP type %d: %s", table.num_rows, source, exc)

    def _flush(self) -> None:
        try:
            self.db.flush()
            self.last_flush = time.time()
        except HyenaError as exc:
            self.counters.add("flush_failed")
            log.error("flush failed: %s", exc)
