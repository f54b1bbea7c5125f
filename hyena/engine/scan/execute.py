"""Run a scan: prune partitions, evaluate and gather each one (on a thread pool), in order.

Pruning happens before any block is read: by source and partition id, by the partitions' time
ranges, then per partition by zone maps and bloom filters (see evaluate.py). Partitions are
independent, so they run concurrently; numba kernels release the GIL. A resumable scan
(`chunk`) stops after `row_limit` rows and returns an opaque state: the creation number of the
partition it stopped in and the next row there.
"""
from __future__ import annotations

import itertools
import os
import threading
from collections import Counter, OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from hyena.engine.partition import PartitionSnapshot
from hyena.engine.reader import DENSE_GATHER, scan_column
from hyena.engine.scan.aggregate import count_values
from hyena.engine.scan.evaluate import (
    ALL_ROWS,
    live_groups,
    needs_time_filter,
    read_ahead,
    row_mask,
    select_rows,
)
from hyena.engine.scan.gather import ColumnChunk, gather_columns, prefetch_gather
from hyena.memory import retain_freed_memory
from hyena.engine.scan.request import TS_LIMIT, ScanSpec
from hyena.engine.scan.result import ScanResult
from hyena.errors import InvalidScanError
from hyena.kernels.compare import count_range
from hyena.kernels.gather import selected_rows
from hyena.storage.mapcache import MapCache
from hyena.types import TS_COLUMN, Column

__all__ = ["Scanner", "ROW_BITS"]

ROW_BITS = 20  # a state is (partition seq << ROW_BITS) | row; rows per partition < 2**20
_PARALLEL_ROWS = 200_000  # below this many rows, threads cost more than they save
_OPEN_STREAMS = 64  # streams whose finished partitions are remembered (see Scanner.chunk)
_AHEAD = 16  # partitions whose files are asked for ahead of the one being scanned
_DEFERRED_ROWS = 32 << 20  # row numbers (8 bytes each) kept for gathers put off, at most


@dataclass
class _Piece:
    """What one partition contributes: its chunks and where it stopped."""

    chunks: list[ColumnChunk]
    rows: int
    next_row: int  # first row of the partition not yet looked at
    start: int = 0
    row_ids: np.ndarray | None = None  # the partition rows taken (None: start, start + 1, ...)

    def row_after(self, taken: int) -> int:
        """The partition row following the first `taken` result rows."""
        if taken == self.rows:
            return self.next_row
        return self.start + taken if self.row_ids is None else int(self.row_ids[taken - 1]) + 1


@dataclass
class _Selection:
    """The rows of one partition a scan takes: `rows` of them, either `row_ids` (ascending)
    or, when None, the run start, start + 1, ...; `next_row` as in _Piece."""

    row_ids: np.ndarray | None
    rows: int
    next_row: int
    start: int
    prefetched: bool = False  # pages of its gather were asked for (a cold page cache)


class _Scratch(threading.local):
    """Per-thread buffers reused across partitions (fresh memory is slow to fault in)."""

    def buffers(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if getattr(self, "size", 0) < n:
            self.size = max(n, 1024)
            self.mask = np.empty(self.size, dtype=np.uint8)
            self.work = np.empty(self.size, dtype=np.uint8)
            self.rows = np.empty(self.size, dtype=np.int64)
        return self.mask, self.work, self.rows


class Scanner:
    def __init__(self, snapshot: Callable[..., list[PartitionSnapshot]], maps: MapCache,
                 threads: int | None = None) -> None:
        self._snapshot = snapshot
        self.maps = maps
        retain_freed_memory()  # results reuse freed pages instead of faulting in new ones
        self.threads = threads or os.cpu_count() or 1
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._scratch = _Scratch()
        # state a chunk returned -> directories of the partitions that chunk finished
        self._finished: OrderedDict[int, list[Any]] = OrderedDict()
        self._finished_lock = threading.Lock()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # --- planning -------------------------------------------------------------------------

    def partitions(self, spec: ScanSpec) -> list[PartitionSnapshot]:
        parts = self._snapshot(spec.sources, spec.min_ts, spec.max_ts)
        if spec.partition_ids is not None:
            parts = [p for p in parts if p.id in spec.partition_ids]
        return parts

    # --- running --------------------------------------------------------------------------

    def run(self, spec: ScanSpec) -> ScanResult:
        """Every matching row, in one pass over the partitions (threads wait for each other
        once, not once per group of partitions: on a busy machine every wait costs a time
        slice). Filters' files are asked for _AHEAD partitions ahead of the one being scanned.
        A partition whose gather had to ask for pages (from a cold page cache) is gathered
        after all were selected, so the disk reads for all of them at once; the others are
        gathered straight away."""
        parts = self.partitions(spec)
        self._read_ahead(parts[:_AHEAD], spec)
        budget = [_DEFERRED_ROWS]  # row numbers kept for gathers put off

        def take(i: int) -> _Piece | _Selection:
            part = parts[i]
            if i + _AHEAD < len(parts):
                read_ahead(parts[i + _AHEAD], spec, self.maps)
            sel = self._select(part, spec, 0, -1, own_rows=True)
            if not sel.prefetched or budget[0] < sel.rows:
                return self._gather(part, spec, sel)
            budget[0] -= sel.rows
            if i + _AHEAD < len(parts) and _dense(part, sel):
                # This gather reads whole columns: the one _AHEAD on likely will too.
                read_ahead(parts[i + _AHEAD], spec, self.maps, projection=True)
            return sel

        taken = self._map(list(range(len(parts))), take, sum(p.rows for p in parts))
        later = [(parts[i], t) for i, t in enumerate(taken) if isinstance(t, _Selection)]
        gathered = iter(self._map(later, lambda pt: self._gather(pt[0], spec, pt[1])))
        result = ScanResult(spec.columns)
        for piece in taken:
            if isinstance(piece, _Selection):
                piece = next(gathered)
            if piece.rows:
                result.add(piece.chunks, piece.row_ids is not None)
        return result

    def _read_ahead(self, parts: list[PartitionSnapshot], spec: ScanSpec,
                    also: int | None = None, projection: bool = False) -> None:
        for part in parts:
            read_ahead(part, spec, self.maps, also, projection)

    def chunk(self, spec: ScanSpec, row_limit: int, state: int | None) -> ScanResult:
        """At most `row_limit` rows from `state` on; the result's state resumes after them."""
        if not isinstance(row_limit, int) or row_limit < 1:
            raise InvalidScanError("row_limit must be a positive integer", row_limit=row_limit)
        parts = self.partitions(spec)
        first, start = self._resume(parts, state)
        self._release_finished(state)
        result = ScanResult(spec.columns)
        remaining = row_limit
        wave = max(1, self.threads)
        finished = []
        i = first
        while i < len(parts):
            batch = parts[i:i + _needed(parts, i, wave, spec, start, remaining)]
            starts = [start if k == 0 else 0 for k in range(len(batch))]
            pieces = self._map(list(zip(batch, starts)),
                               lambda ps: self._piece(ps[0], spec, ps[1], remaining))
            for part, piece in zip(batch, pieces):
                taken = min(piece.rows, remaining)
                if taken:
                    result.add([_head(c, taken) for c in piece.chunks], piece.row_ids is not None)
                remaining -= taken
                i += 1
                start = 0
                if remaining == 0:
                    stop_row = piece.row_after(taken)
                    if stop_row >= part.rows:
                        finished.append(part.directory)
                    at_end = stop_row >= part.rows and i == len(parts)
                    result.state = None if at_end else _encode(part.seq, stop_row)
                    if result.state is not None:
                        self._remember_finished(result.state, finished)
                    return result
                finished.append(part.directory)
        return result

    def _remember_finished(self, state: int, directories: list[Any]) -> None:
        with self._finished_lock:
            self._finished[state] = directories
            while len(self._finished) > _OPEN_STREAMS:
                self._finished.popitem(last=False)

    def _release_finished(self, state: int | None) -> None:
        """A stream asking for the chunk after `state` is done with the partitions the chunk
        that returned `state` finished: give their mapped pages back, so a streamed scan holds
        about one chunk resident instead of everything it has read. (Views stay valid.)"""
        if state is None:
            return
        with self._finished_lock:
            directories = self._finished.pop(state, ())
        for directory in directories:
            self.maps.release_under(directory)

    def rows(self, spec: ScanSpec, part: PartitionSnapshot, start: int,
             stop: int | None) -> ScanResult:
        """Rows [start, stop) of one partition, unfiltered (spec carries the projection)."""
        stop = part.rows if stop is None else min(stop, part.rows)
        result = ScanResult(spec.columns)
        if start < stop:
            result.chunks.append(gather_columns(part, spec.columns, self.maps, None, start,
                                                stop))
        return result

    def count(self, spec: ScanSpec) -> int:
        parts = self.partitions(spec)
        # Partitions the metadata counts need no thread (a count in a time range has a few).
        total = sum(p.rows for p in parts if spec.unfiltered and not needs_time_filter(p, spec))
        rest = [p for p in parts if not spec.unfiltered or needs_time_filter(p, spec)]
        self._read_ahead(rest, spec)
        return total + sum(self._map(rest, lambda p: self._count(p, spec)))

    def count_by(self, spec: ScanSpec, column: Column) -> Counter:
        """Matching rows per value of `column`."""
        parts = self.partitions(spec)
        self._read_ahead(parts, spec, column.id)
        total: Counter = Counter()
        for counts in self._map(parts, lambda p: self._count_by(p, spec, column)):
            total.update(counts)
        return total

    def _map(self, items: list[Any], fn: Callable[[Any], Any],
             rows: int | None = None) -> list[Any]:
        """fn over items (partitions, or tuples starting with one; else give `rows`), in
        order. On threads, each worker (the caller is one) takes the next item until none is
        left: one hand-over per thread instead of one per partition."""
        total = rows if rows is not None else \
            sum((it[0] if isinstance(it, tuple) else it).rows for it in items)
        if len(items) < 2 or total < _PARALLEL_ROWS or self.threads < 2:
            return [fn(it) for it in items]
        out: list[Any] = [None] * len(items)
        claim = itertools.count().__next__  # atomic under the GIL

        def work() -> None:
            while (i := claim()) < len(out):
                out[i] = fn(items[i])

        helpers = min(self.threads, len(items)) - 1
        futures: list[Future] = [self._executor().submit(work) for _ in range(helpers)]
        try:
            work()
        finally:
            for f in futures:
                f.exception()  # wait for every helper before anything is raised
        for f in futures:
            f.result()
        return out

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="hyena-scan")
            return self._pool

    def _resume(self, parts: list[PartitionSnapshot], state: int | None) -> tuple[int, int]:
        if state is None:
            return 0, 0
        if not isinstance(state, int) or not 0 <= state < 1 << 64:
            raise InvalidScanError("stream state must be a value a previous chunk returned",
                                   state=state)
        seq, row = state >> ROW_BITS, state & ((1 << ROW_BITS) - 1)
        for i, part in enumerate(parts):
            if part.seq == seq:
                return i, row
        # The partition is gone (retention) or outside this scan: go on after its position.
        for i, part in enumerate(parts):
            if part.seq > seq:
                return i, 0
        return len(parts), 0

    # --- one partition --------------------------------------------------------------------

    def _piece(self, part: PartitionSnapshot, spec: ScanSpec, start: int, limit: int) -> _Piece:
        """Rows of `part` from `start` on that match, at most `limit` (-1: all)."""
        return self._gather(part, spec, self._select(part, spec, start, limit, own_rows=False))

    def _select(self, part: PartitionSnapshot, spec: ScanSpec, start: int, limit: int,
                own_rows: bool) -> _Selection:
        """Which rows of `part` from `start` on match, at most `limit` (-1: all); asks for
        the pages their gather will read. `own_rows`: copy them out of this thread's scratch
        buffer (the gather runs later, maybe on another thread)."""
        if start >= part.rows:
            return _Selection(None, 0, part.rows, start)
        groups = live_groups(part, spec, self.maps)
        if groups == []:
            return _Selection(None, 0, part.rows, start)
        mask_buf, work_buf, rows_buf = self._scratch.buffers(part.rows)
        want = part.rows - start if limit < 0 else limit
        found = select_rows(part, spec, groups, self.maps, start, want, rows_buf)
        if found is None:
            mask = row_mask(part, spec, groups, self.maps, start, mask_buf, work_buf)
            if mask is ALL_ROWS:
                stop = part.rows if limit < 0 else min(part.rows, start + limit)
                asked = prefetch_gather(part, spec.columns, self.maps, None, spec.column_ids)
                return _Selection(None, stop - start, stop, start, asked)
            found = selected_rows(mask, start, want, rows_buf)
        if found == 0:
            return _Selection(None, 0, part.rows, start)
        rows = rows_buf[:found]
        next_row = part.rows if found < want else int(rows[-1]) + 1
        asked = prefetch_gather(part, spec.columns, self.maps, rows, spec.column_ids)
        if own_rows and asked or limit >= 0:
            rows = rows.copy()  # out of the scratch buffer: it is gathered later
        return _Selection(rows, found, next_row, start, asked)

    def _gather(self, part: PartitionSnapshot, spec: ScanSpec, sel: _Selection) -> _Piece:
        if sel.rows == 0:
            return _Piece([], 0, sel.next_row)
        if sel.row_ids is None:  # a run of rows, handed out without copying
            chunks = gather_columns(part, spec.columns, self.maps, None, sel.start,
                                    sel.start + sel.rows)
            return _Piece(chunks, sel.rows, sel.next_row, sel.start)
        chunks = gather_columns(part, spec.columns, self.maps, sel.row_ids, 0, 0)
        return _Piece(chunks, sel.rows, sel.next_row, sel.start, sel.row_ids)

    def _count_by(self, part: PartitionSnapshot, spec: ScanSpec, column: Column) -> Counter:
        groups = live_groups(part, spec, self.maps)
        if groups == []:
            return Counter()
        mask_buf, work_buf, rows_buf = self._scratch.buffers(part.rows)
        mask = row_mask(part, spec, groups, self.maps, 0, mask_buf, work_buf)
        if mask is ALL_ROWS:
            return count_values(part, column, None, self.maps)
        found = selected_rows(mask, 0, len(mask), rows_buf)
        return count_values(part, column, rows_buf[:found], self.maps)

    def _count(self, part: PartitionSnapshot, spec: ScanSpec) -> int:
        groups = live_groups(part, spec, self.maps)
        if groups == []:
            return 0
        if groups is None:
            if not needs_time_filter(part, spec):
                return part.rows
            ts = scan_column(part, TS_COLUMN, self.maps).values
            return int(count_range(ts, np.uint64(spec.min_ts),
                                   np.uint64(min(spec.max_ts, TS_LIMIT))))
        mask_buf, work_buf, _ = self._scratch.buffers(part.rows)
        mask = row_mask(part, spec, groups, self.maps, 0, mask_buf, work_buf)
        return int(np.count_nonzero(mask))


def _dense(part: PartitionSnapshot, sel: _Selection) -> bool:
    """Whether gathering the selection touches every page of a column (reader.prefetch_rows)."""
    return sel.row_ids is None or sel.rows * DENSE_GATHER >= part.rows


def _head(chunk: ColumnChunk, n: int) -> ColumnChunk:
    if len(chunk) == n:
        return chunk
    if chunk.offsets is not None:
        return ColumnChunk(chunk.values, chunk.offsets[:n + 1],
                           None if chunk.valid is None else chunk.valid[:n])
    return ColumnChunk(chunk.values[:n], None, None if chunk.valid is None else chunk.valid[:n])


def _encode(seq: int, row: int) -> int:
    if seq >= 1 << (64 - ROW_BITS):
        raise InvalidScanError("partition numbers exhausted the stream state")
    return (seq << ROW_BITS) | row


def _needed(parts: list[PartitionSnapshot], first: int, wave: int, spec: ScanSpec, start: int,
            remaining: int) -> int:
    """How many partitions from `first` on to scan together (at most `wave`). Without
    filters a partition inside the time range gives all its rows, so the partitions that
    cannot contribute to this chunk are not scanned: only as many as fill `remaining`."""
    if not spec.unfiltered:
        return wave
    count, have = 0, 0
    for part in parts[first:first + wave]:
        if needs_time_filter(part, spec):
            return wave  # its row count is not known before it is scanned
        count += 1
        have += part.rows - (start if count == 1 else 0)
        if have >= remaining:
            break
    return max(count, 1)
