"""Run a scan: prune partitions, evaluate and gather each one (on a thread pool), in order.

Pruning happens before any block is read: by source and partition id, by the partitions' time
ranges, then per partition by zone maps and bloom filters (see evaluate.py). Partitions are
independent, so they run concurrently; numba kernels release the GIL. A resumable scan
(`chunk`) stops after `row_limit` rows and returns an opaque state: the creation number of the
partition it stopped in and the next row there.
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from hyena.engine.partition import PartitionSnapshot
from hyena.engine.reader import column_data
from hyena.engine.scan.aggregate import count_values
from hyena.engine.scan.evaluate import ALL_ROWS, live_groups, needs_time_filter, row_mask
from hyena.engine.scan.gather import ColumnChunk, gather_columns
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
        self.threads = threads or os.cpu_count() or 1
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._scratch = _Scratch()

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
        """Every matching row."""
        parts = self.partitions(spec)
        pieces = self._map(parts, lambda p: self._piece(p, spec, 0, -1))
        return ScanResult(spec.columns, [p.chunks for p in pieces if p.rows])

    def chunk(self, spec: ScanSpec, row_limit: int, state: int | None) -> ScanResult:
        """At most `row_limit` rows from `state` on; the result's state resumes after them."""
        if not isinstance(row_limit, int) or row_limit < 1:
            raise InvalidScanError("row_limit must be a positive integer", row_limit=row_limit)
        parts = self.partitions(spec)
        first, start = self._resume(parts, state)
        result = ScanResult(spec.columns)
        remaining = row_limit
        wave = max(1, self.threads)
        i = first
        while i < len(parts):
            batch = parts[i:i + wave]
            starts = [start if k == 0 else 0 for k in range(len(batch))]
            pieces = self._map(list(zip(batch, starts)),
                               lambda ps: self._piece(ps[0], spec, ps[1], remaining))
            for part, piece in zip(batch, pieces):
                taken = min(piece.rows, remaining)
                if taken:
                    result.chunks.append([_head(c, taken) for c in piece.chunks])
                remaining -= taken
                i += 1
                start = 0
                if remaining == 0:
                    stop_row = piece.row_after(taken)
                    at_end = stop_row >= part.rows and i == len(parts)
                    result.state = None if at_end else _encode(part.seq, stop_row)
                    return result
        return result

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
        return sum(self._map(parts, lambda p: self._count(p, spec)))

    def count_by(self, spec: ScanSpec, column: Column) -> Counter:
        """Matching rows per value of `column`."""
        total: Counter = Counter()
        for counts in self._map(self.partitions(spec),
                                lambda p: self._count_by(p, spec, column)):
            total.update(counts)
        return total

    def _map(self, items: list[Any], fn: Callable[[Any], Any]) -> list[Any]:
        total = sum((it[0] if isinstance(it, tuple) else it).rows for it in items)
        if len(items) < 2 or total < _PARALLEL_ROWS or self.threads < 2:
            return [fn(it) for it in items]
        futures: list[Future] = [self._executor().submit(fn, it) for it in items]
        return [f.result() for f in futures]

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
        if start >= part.rows:
            return _Piece([], 0, part.rows)
        groups = live_groups(part, spec, self.maps)
        if groups == []:
            return _Piece([], 0, part.rows)
        mask_buf, work_buf, rows_buf = self._scratch.buffers(part.rows)
        mask = row_mask(part, spec, groups, self.maps, start, mask_buf, work_buf)
        if mask is ALL_ROWS:
            stop = part.rows if limit < 0 else min(part.rows, start + limit)
            chunks = gather_columns(part, spec.columns, self.maps, None, start, stop)
            return _Piece(chunks, stop - start, stop, start)
        want = len(mask) if limit < 0 else limit
        found = selected_rows(mask, start, want, rows_buf)
        rows = rows_buf[:found]
        if found == 0:
            return _Piece([], 0, part.rows)
        chunks = gather_columns(part, spec.columns, self.maps, rows, 0, 0)
        next_row = part.rows if found < want else int(rows[-1]) + 1
        return _Piece(chunks, found, next_row, start, rows.copy() if limit >= 0 else None)

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
            ts = column_data(part, TS_COLUMN, self.maps).values
            return int(count_range(ts, np.uint64(spec.min_ts),
                                   np.uint64(min(spec.max_ts, TS_LIMIT))))
        mask_buf, work_buf, _ = self._scratch.buffers(part.rows)
        mask = row_mask(part, spec, groups, self.maps, 0, mask_buf, work_buf)
        return int(np.count_nonzero(mask))


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
