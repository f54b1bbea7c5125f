"""Sync many files at once: fdatasync waits on the device, so one thread per file in flight
overlaps those waits. A sealed partition has a dozen block files; syncing them one after
another took 1.5-2 ms each here, in parallel about as long as one."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from hyena.storage.block_file import BlockFile

__all__ = ["Syncer"]


class Syncer:
    def __init__(self, threads: int = 16) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="hyena-sync")

    def sync(self, files: Iterable[BlockFile]) -> None:
        """fdatasync every file; raises the first error after all have been tried."""
        futures = [self._pool.submit(f.sync) for f in files]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def close(self) -> None:
        self._pool.shutdown(wait=True)
