"""A bounded LRU of read-only memory maps over block, index and pool files.

A large data directory has far more block files than a process may map (`vm.max_map_count`,
65530 by default) or open (`ulimit -n`; Python's mmap keeps a descriptor per map). Scans ask
this cache for numpy views; it keeps at most `limit` maps and unmaps the least recently used.
A map that is evicted while a scan still holds a view of it stays valid until that view dies.
"""
from __future__ import annotations

import mmap
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from hyena.errors import CorruptFileError, StorageError
from hyena.storage.format import FILE_HEADER_SIZE

__all__ = ["MapCache"]


class MapCache:
    """Maps files read-only on demand; thread safe."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("map cache limit must be at least 1")
        self.limit = limit
        self._maps: OrderedDict[Path, mmap.mmap] = OrderedDict()
        self._lock = threading.Lock()
        self.maps_opened = 0  # counters for tests and metrics

    def __len__(self) -> int:
        return len(self._maps)

    def view(self, path: Path, dtype: np.dtype, count: int, start: int = 0) -> np.ndarray:
        """`count` elements of `dtype` from payload element `start` on (the header is skipped)."""
        dtype = np.dtype(dtype)
        if count == 0:
            return np.empty(0, dtype=dtype)
        begin = FILE_HEADER_SIZE + start * dtype.itemsize
        end = begin + count * dtype.itemsize
        with self._lock:
            mapped = self._map(path, end)
            return np.frombuffer(mapped, dtype=dtype, count=count, offset=begin)

    def _map(self, path: Path, needed: int) -> mmap.mmap:
        mapped = self._maps.get(path)
        if mapped is not None and len(mapped) >= needed:
            self._maps.move_to_end(path)
            return mapped
        if mapped is not None:  # the file grew (string pool): map it again
            self._forget(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise StorageError(f"could not open block file: {exc.strerror}", path=path) from exc
        try:
            size = os.fstat(fd).st_size
            if size < needed:
                raise CorruptFileError(path, "file shorter than its metadata says",
                                       size=size, needed=needed)
            mapped = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        except OSError as exc:
            raise StorageError(f"could not map block file: {exc.strerror}", path=path) from exc
        finally:
            os.close(fd)
        self.maps_opened += 1
        self._maps[path] = mapped
        while len(self._maps) > self.limit:
            oldest = next(iter(self._maps))
            self._forget(oldest)
        return mapped

    def _forget(self, path: Path) -> None:
        mapped = self._maps.pop(path)
        try:
            mapped.close()
        except BufferError:
            pass  # a view still uses it; it is unmapped when the last view goes

    def evict(self, path: Path) -> None:
        """Drop the map of one file (it is about to be removed or rewritten)."""
        with self._lock:
            if path in self._maps:
                self._forget(path)

    def evict_under(self, directory: Path) -> None:
        with self._lock:
            for path in [p for p in self._maps if directory in p.parents]:
                self._forget(path)

    def clear(self) -> None:
        with self._lock:
            for path in list(self._maps):
                self._forget(path)
