"""A bounded LRU of read-only memory maps over block, index and pool files.

A large data directory has far more block files than a process may map (`vm.max_map_count`,
65530 by default) or open (`ulimit -n`; Python's mmap keeps a descriptor per map). Scans ask
this cache for numpy views; it keeps at most `limit` maps and unmaps the least recently used.
A map that is evicted while a scan still holds a view of it stays valid until that view dies.

Views are kept with their map (one per dtype and start, the longest asked for), so asking for
a column again costs a dictionary lookup instead of a new numpy array; they go when the map
goes, so the cache still bounds what is mapped. Files are known by their path as a string.
"""
from __future__ import annotations

import mmap
import os
import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from hyena.errors import CorruptFileError, StorageError
from hyena.storage.format import FILE_HEADER_SIZE

__all__ = ["MapCache"]

_MISSING = object()


class _Mapped:
    """One map and the views handed out from it."""

    __slots__ = ("mmap", "views", "memo", "advised")

    def __init__(self, mapped: mmap.mmap) -> None:
        self.mmap = mapped
        self.views: dict[tuple[object, int], np.ndarray] = {}
        self.memo: dict[object, Any] = {}  # objects built from this file's views
        self.advised = False  # a read-ahead was asked for (see MapCache.prefetch)


class MapCache:
    """Maps files read-only on demand; thread safe."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("map cache limit must be at least 1")
        self.limit = limit
        self._maps: OrderedDict[str, _Mapped] = OrderedDict()
        self._lock = threading.Lock()
        self.maps_opened = 0  # counters for tests and metrics

    def __len__(self) -> int:
        return len(self._maps)

    def __contains__(self, path: str) -> bool:
        return path in self._maps

    def view(self, path: str | os.PathLike[str], dtype: np.dtype | type, count: int,
             start: int = 0) -> np.ndarray:
        """`count` elements of `dtype` from payload element `start` on (the header is skipped).
        Read-only; the same array (or a prefix of it) may be handed to every caller."""
        if count == 0:
            return np.empty(0, dtype=dtype)
        key = path if type(path) is str else os.fspath(path)
        with self._lock:
            entry = self._maps.get(key)
            if entry is not None:
                cached = entry.views.get((dtype, start))  # dtype as given: no conversion
                if cached is not None and cached.shape[0] >= count:
                    self._maps.move_to_end(key)
                    return cached if cached.shape[0] == count else cached[:count]
            itemsize = np.dtype(dtype).itemsize
            begin = FILE_HEADER_SIZE + start * itemsize
            entry = self._map(key, begin + count * itemsize)
            view = np.frombuffer(entry.mmap, dtype=dtype, count=count, offset=begin)
            entry.views[(dtype, start)] = view
            return view

    def memo(self, path: str | os.PathLike[str], key: object, make: Callable[[], Any]) -> Any:
        """What `make()` builds from views of this file (a partition's column, a dictionary),
        kept with the map and dropped with it. Only for files that no longer change: the
        key must say everything `make` depends on."""
        path = path if type(path) is str else os.fspath(path)
        with self._lock:
            entry = self._maps.get(path)
            if entry is not None:
                found = entry.memo.get(key, _MISSING)
                if found is not _MISSING:
                    self._maps.move_to_end(path)
                    return found
        value = make()  # maps the file through view(); outside the lock, which view takes
        with self._lock:
            entry = self._maps.get(path)
            if entry is not None:
                entry.memo[key] = value
        return value

    def _map(self, path: str, needed: int) -> _Mapped:
        entry = self._maps.get(path)
        if entry is not None and len(entry.mmap) >= needed:
            self._maps.move_to_end(path)
            return entry
        if entry is not None:  # the file grew (string pool): map it again
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
        entry = self._maps[path] = _Mapped(mapped)
        while len(self._maps) > self.limit:
            oldest = next(iter(self._maps))
            self._forget(oldest)
        return entry

    def _forget(self, path: str) -> None:
        entry = self._maps.pop(path)
        entry.views.clear()
        entry.memo.clear()
        try:
            entry.mmap.close()
        except BufferError:
            pass  # a view still uses it; it is unmapped when the last view goes

    def evict(self, path: str | os.PathLike[str]) -> None:
        """Drop the map of one file (it is about to be removed or rewritten)."""
        key = os.fspath(path)
        with self._lock:
            if key in self._maps:
                self._forget(key)

    def evict_under(self, directory: str | os.PathLike[str]) -> None:
        prefix = os.path.join(os.fspath(directory), "")
        with self._lock:
            for path in [p for p in self._maps if p.startswith(prefix)]:
                self._forget(path)

    def read_ahead(self, path: str | os.PathLike[str]) -> bool:
        """Map a file (without touching its pages) and prefetch all of it."""
        key = path if type(path) is str else os.fspath(path)
        with self._lock:
            self._map(key, 0)
        return self.prefetch(key)

    def first_time(self, path: str | os.PathLike[str], key: object) -> bool:
        """True the first time `key` is asked about for this file's map (it is mapped, without
        reading it, if need be): lets a scan do a one-time step per partition (a read-ahead)
        for the cost of a dictionary lookup afterwards."""
        key_path = path if type(path) is str else os.fspath(path)
        with self._lock:
            entry = self._maps.get(key_path) or self._map(key_path, 0)
            if key in entry.memo:
                return False
            entry.memo[key] = True
            return True

    def wants_prefetch(self, path: str) -> bool:
        """Whether prefetch(path) would still ask (the file is mapped, not yet advised): lets
        callers skip working out which pages to ask for."""
        entry = self._maps.get(path)
        return entry is not None and not entry.advised

    def prefetch(self, path: str | os.PathLike[str], pages: np.ndarray | None = None) -> bool:
        """Ask the kernel to start reading pages of a mapped file (MADV_WILLNEED): `pages`
        (sorted page numbers of the file, header included) or, with None, all of it. Faulting
        pages in one at a time waits for the disk once per fault; a read-ahead request puts
        them all in flight at once. Only a map's first request is made: a file is mapped when
        a scan first reads it, which is when its pages are most likely on disk only, and
        asking again on every scan would cost system calls on warm data. True if asked."""
        key = path if type(path) is str else os.fspath(path)
        with self._lock:
            entry = self._maps.get(key)
            if entry is None or entry.advised:
                return False
            entry.advised = True
            mapped = entry.mmap
        size = len(mapped)
        try:
            if pages is None:
                mapped.madvise(mmap.MADV_WILLNEED)
                return True
            for first, last in _runs(pages):
                begin = first * mmap.PAGESIZE
                if begin < size:
                    mapped.madvise(mmap.MADV_WILLNEED, begin,
                                   min(size, (last + 1) * mmap.PAGESIZE) - begin)
        except (OSError, ValueError):
            pass  # closed meanwhile, or an old kernel: it is only a hint
        return True

    def release_under(self, directory: str | os.PathLike[str]) -> int:
        """Give back the resident pages of the maps of files under `directory` (a streamed scan
        that has finished a partition); returns how many maps. Views stay valid: reading one
        faults its pages in again from the page cache (or the file: they never change)."""
        prefix = os.path.join(os.fspath(directory), "")
        released = 0
        with self._lock:
            for path, entry in self._maps.items():
                if path.startswith(prefix):
                    entry.mmap.madvise(mmap.MADV_DONTNEED)
                    released += 1
        return released

    def clear(self) -> None:
        with self._lock:
            for path in list(self._maps):
                self._forget(path)


def _runs(pages: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive numbers in a sorted array."""
    if len(pages) == 0:
        return []
    breaks = np.flatnonzero(np.diff(pages) > 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(pages) - 1]))
    return list(zip(pages[starts].tolist(), pages[ends].tolist()))
