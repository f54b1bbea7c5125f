"""A partition group: every partition of one source, oldest first; the last one is the head.

An append is all or nothing: it plans which partitions take which rows (the head, then new
partitions when a block would overflow or the set of dense columns changes), creates files and
reserves space for every write, writes, and only then raises the counts that make rows visible.
A failure before that leaves the group as it was.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hyena.engine.batch import Batch
from hyena.engine.partition import Geometry, Partition, PartitionSnapshot
from hyena.errors import InvalidDataError
from hyena.storage import format as fmt
from hyena.storage.block_file import BlockFile
from hyena.storage.fs import FileOps
from hyena.storage.layout import new_partition_id, partition_dir
from hyena.storage.metafile import write_meta

__all__ = ["PartitionGroup", "CommitState"]

_MANY_PARTITIONS = 8


@dataclass(frozen=True)
class CommitState:
    """What the catalog must record to commit the rows visible at one moment."""

    record: dict[str, Any]  # the group's entry in catalog.data (docs/format.md)
    group_meta_stale: bool  # pgmeta.data must be rewritten first
    head_files: list[BlockFile]  # to sync before the catalog is written
    head: Partition | None
    head_dir_generation: int  # block files created in the head so far (their entries to sync)


class PartitionGroup:
    def __init__(self, source: int, root: Path, fs: FileOps, geometry: Geometry,
                 preallocate: bool, on_seal: Callable[[Partition], None],
                 next_seq: Callable[[], int]) -> None:
        self.source = source
        self.root = root
        self.fs = fs
        self.geometry = geometry
        self.preallocate = preallocate
        self.partitions: list[Partition] = []
        self._on_seal = on_seal
        self._next_seq = next_seq
        self._append_lock = threading.Lock()  # one append at a time per group
        self._state_lock = threading.Lock()  # counts and the partition list, for readers
        self._meta_lock = threading.Lock()  # one writer of pgmeta.data at a time
        self._listed = (0, 0)  # (partitions, sealed) as pgmeta.data lists them

    @property
    def directory(self) -> Path:
        return self.root / str(self.source)

    @property
    def head(self) -> Partition | None:
        return self.partitions[-1] if self.partitions else None

    # --- append --------------------------------------------------------------------------

    def append(self, batch: Batch) -> None:
        with self._append_lock:
            segments, fresh, to_seal = self._plan(batch)
            created: list[Path] = []
            before = {id(p): set(p.columns) for p, _, _ in segments if p not in fresh}
            try:
                self._create(fresh)
                writes = []
                # A batch that fills many partitions keeps no descriptors open for those it
                # seals (it would otherwise hold a dozen per partition until written back).
                many = len(fresh) > _MANY_PARTITIONS
                for part, r0, r1 in segments:
                    transient = many and part in fresh and part in to_seal
                    writes += part.prepare(batch.ts, batch.columns, r0, r1, self.preallocate,
                                           created, transient)
                Partition.write(writes)
            except BaseException:
                self._undo(segments, fresh, before, created)
                raise
            with self._state_lock:
                for part, r0, r1 in segments:
                    part.publish(batch.ts, batch.columns, r0, r1)
                for part in to_seal:
                    part.sealed = True
                    # Handed over under the lock, so a flush that sees it sealed waits for it.
                    self._on_seal(part)
                self.partitions.extend(fresh)

    def _plan(self, batch: Batch) -> tuple[list[tuple[Partition, int, int]], list[Partition],
                                           list[Partition]]:
        dense = frozenset(cv.column.id for cv in batch.columns if not cv.column.type.is_sparse)
        segments: list[tuple[Partition, int, int]] = []
        fresh: list[Partition] = []
        to_seal: list[Partition] = []
        part = self.head
        if part is not None and (part.sealed or part.dense != dense):
            if not part.sealed:
                to_seal.append(part)
            part = None
        r0, rows = 0, batch.rows
        while r0 < rows:
            if part is None:
                part = self._new_partition(int(batch.ts[r0]), dense)
                fresh.append(part)
            k = part.rows_that_fit(batch.columns, r0, rows)
            if k == 0:
                if part.rows == 0 and part in fresh:
                    raise InvalidDataError("a single row does not fit in an empty partition "
                                           "(a string longer than the string pool?)",
                                           row=r0, pool_capacity=self.geometry.pool_capacity)
                to_seal.append(part)
                part = None
                continue
            segments.append((part, r0, r0 + k))
            r0 += k
            if r0 < rows:
                to_seal.append(part)
                part = None
        return segments, fresh, to_seal

    def _new_partition(self, first_ts: int, dense: frozenset[int]) -> Partition:
        pid = new_partition_id()
        return Partition(pid, self.source, partition_dir(self.source, first_ts, pid), self.root,
                         self.fs, self.geometry, seq=self._next_seq(), dense=dense,
                         _columns={})

    def _create(self, fresh: list[Partition]) -> None:
        """Create the directories of new partitions. Nothing is synced here: the commit that
        first names a partition makes its directory durable (a crash before that leaves a
        directory that the next open removes)."""
        for part in fresh:
            part.unsynced_dirs = self.fs.make_dirs(part.directory)

    def _undo(self, segments: list[tuple[Partition, int, int]], fresh: list[Partition],
              before: dict[int, set[int]], created: list[Path]) -> None:
        for part, _, _ in segments:
            if part not in fresh:
                for cid in set(part.columns) - before[id(part)]:
                    for f in part.columns[cid].files():
                        f.close()
                    del part.columns[cid]
        for path in created:
            self.fs.unlink(path)
        for part in fresh:
            part.close_writers(drop_cache=False)
            self.fs.remove_tree(part.directory)

    # --- metadata ------------------------------------------------------------------------

    def write_group_meta(self) -> None:
        """Rewrite pgmeta.data: every partition visible now, oldest first."""
        with self._meta_lock:
            with self._state_lock:
                parts = list(self.partitions)
                entries = [p.group_entry() for p in parts]
                listed = (len(self.partitions), sum(p.sealed for p in self.partitions))
            for parent in self.fs.make_dirs(self.directory):
                self.fs.fsync_dir(parent)
            write_meta(self.fs, self.directory / fmt.GROUP_META_FILE, fmt.GROUP_MAGIC,
                       {"source": self.source, "partitions": entries})
            self._listed = listed

    def drop(self, ids: set[uuid.UUID]) -> list[Partition]:
        """Take these partitions out of the group (the caller commits, then removes files).
        An open head among them is closed; the next append starts a new partition."""
        with self._append_lock:
            with self._state_lock:
                victims = [p for p in self.partitions if p.id in ids]
                self.partitions = [p for p in self.partitions if p.id not in ids]
                self._listed = None  # pgmeta.data must be rewritten
            for part in victims:
                if not part.sealed:
                    part.sealed = True
                    part.close_writers(drop_cache=True)
        return victims

    def mark_listed(self) -> None:
        """pgmeta.data on disk lists exactly the partitions in memory (after recovery)."""
        self._listed = (len(self.partitions), sum(p.sealed for p in self.partitions))

    def commit_state(self) -> CommitState:
        with self._state_lock:
            head = self.head
            live = head is not None and not head.sealed
            record = {"source": self.source, "partitions": len(self.partitions),
                      "last_seq": head.seq if head else 0,
                      "head_seq": head.seq if live else None,
                      "head_rows": head.rows if live else 0,
                      "head_counts": {str(k): v for k, v in
                                      (head.counts() if live else {}).items()}}
            files = head.writers() if live else []
            stale = self._listed != (len(self.partitions),
                                     sum(p.sealed for p in self.partitions))
            generation = head.dir_generation if live else 0
        return CommitState(record, stale, files, head if live else None, generation)

    # --- reading -------------------------------------------------------------------------

    def snapshot(self, min_ts: int = 0, max_ts: int = 1 << 64) -> list[PartitionSnapshot]:
        """Partitions whose time range meets [min_ts, max_ts), as of now, oldest first."""
        with self._state_lock:
            parts = list(self.partitions)
            head = parts[-1] if parts else None
            head_snap = head.snapshot() if head is not None and not head.sealed else None
        out = []
        for part in parts:
            if part.rows == 0 or part.max_ts < min_ts or part.min_ts >= max_ts:
                continue
            out.append(head_snap if part is head and head_snap is not None else part.snapshot())
        return out

    def sealed_partitions(self) -> list[Partition]:
        """Sealed partitions whose writeback is done (meta.data on disk)."""
        with self._state_lock:
            return [p for p in self.partitions if p.sealed and not p.writers()]

    def partition_ids(self) -> list[uuid.UUID]:
        with self._state_lock:
            return [p.id for p in self.partitions]

    def total_rows(self) -> int:
        with self._state_lock:
            return sum(p.rows for p in self.partitions)
