"""The writer: the one thread of the daemon that appends workers' batches to hyena.

It merges the workers' counters, appends each batch (a HEP type's rows) to its partition group,
and flushes hyena every `flush_interval` seconds, so what arrived is durable within about that
long. A batch hyena refuses (a full disk) is counted under `store_failed` and logged; the daemon
keeps running and stores again once there is room.
"""
from __future__ import annotations

import logging
import pickle
import threading
import time
from multiprocessing.connection import Connection, wait

import pyarrow as pa

from hepserver.counters import Counters
from hyena.errors import HyenaError

__all__ = ["Writer"]

log = logging.getLogger("hepserver.writer")


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

    def run(self) -> None:
        alive = set(self.connections)
        next_flush = time.monotonic() + self.flush_interval
        try:
            while alive:
                timeout = max(0.0, next_flush - time.monotonic())
                for conn in wait(list(alive), timeout=timeout):
                    if not self._receive(conn):
                        alive.discard(conn)
                if time.monotonic() >= next_flush:
                    self._flush()
                    next_flush = time.monotonic() + self.flush_interval
            self._flush()
        except BaseException as exc:  # reported by the daemon
            self.error = exc
            log.exception("writer stopped")

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
        if kind == "counters":
            self.counters.merge(message[1])
        elif kind == "batch":
            _, source, counts, data = message
            self.counters.merge(counts)
            table = pa.ipc.open_stream(data).read_all()
            try:
                self.db.append_arrow(source, table)
                self.counters.add("stored", table.num_rows)
            except HyenaError as exc:
                self.counters.add("store_failed", table.num_rows)
                log.error("could not store %d rows of HEP type %d: %s", table.num_rows, source,
                          exc)
        return True

    def _flush(self) -> None:
        try:
            self.db.flush()
            self.last_flush = time.time()
        except HyenaError as exc:
            self.counters.add("flush_failed")
            log.error("flush failed: %s", exc)
