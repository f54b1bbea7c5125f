"""Background writeback of sealed partitions.

When a partition is sealed its data is final: a thread syncs its files, writes its meta.data,
asks the kernel to drop its pages from the cache and closes its files. Appends never wait for
this; `drain` (called by flush) does, so a commit never names a partition whose data and
metadata are not durable.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from hyena.engine.indexes import build_partition_blooms, build_partition_dictionaries
from hyena.engine.partition import Partition
from hyena.engine.syncer import Syncer
from hyena.errors import StorageError

__all__ = ["Writeback"]

log = logging.getLogger("hyena.writeback")


class Writeback:
    def __init__(self, drop_cache: bool, indexed: Callable[[], list[int]],
                 syncer: Syncer) -> None:
        self.drop_cache = drop_cache
        self._syncer = syncer
        self._indexed = indexed  # string columns that get a bloom filter when sealed
        self._queue: queue.Queue[Partition | None] = queue.Queue()
        self._failed: list[tuple[Partition, BaseException]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="hyena-writeback", daemon=True)
        self._thread.start()

    def submit(self, partition: Partition) -> None:
        self._queue.put(partition)

    def _run(self) -> None:
        while True:
            part = self._queue.get()
            try:
                if part is None:
                    return
                self._seal(part)
            except BaseException as exc:  # kept and reported by the next drain
                with self._lock:
                    self._failed.append((part, exc))
            finally:
                self._queue.task_done()

    def _seal(self, part: Partition) -> None:
        self._syncer.sync(part.writers())
        build_partition_blooms(part, self._indexed())
        build_partition_dictionaries(part)
        part.sync_directories(part.dir_generation)
        part.write_meta()
        part.close_writers(drop_cache=self.drop_cache)

    def drain(self) -> None:
        """Wait until every submitted partition is durable; retry earlier failures once."""
        self._queue.join()
        with self._lock:
            failed, self._failed = self._failed, []
        for part, _ in failed:
            try:
                self._seal(part)
            except BaseException as exc:
                with self._lock:
                    self._failed.append((part, exc))
        if self._failed:
            part, exc = self._failed[0]
            raise StorageError(f"writing back a sealed partition failed: {exc}",
                               partition=part.id) from exc

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
