"""A partition: one time range of one source, one block file per column that has data in it.

Only the newest partition of a group (its head) takes appends; once any block would overflow it
is sealed and never changes again. Rows become visible to readers when `publish` raises the
counts, after their bytes were written, so a reader never sees a half-written row.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hyena.engine.batch import ColumnValues
from hyena.kernels.validate import int128_minmax
from hyena.storage import format as fmt
from hyena.storage.block_file import BlockFile, FileHeader
from hyena.storage.fs import FileOps
from hyena.storage.metafile import read_meta, write_meta
from hyena.types import TS_COLUMN, ColumnType

__all__ = ["value_range", "minmax", "Geometry", "ColumnState", "Partition", "PartitionSnapshot", "ColumnSnapshot"]


@dataclass(frozen=True)
class Geometry:
    """Capacities that follow from the block size (fixed per data directory)."""

    block_size: int
    pool_blocks: int

    def value_capacity(self, ctype: ColumnType) -> int:
        """Values one block of this type holds (a string block keeps one leading 0 offset)."""
        return self.block_size // ctype.width - (1 if ctype.is_string else 0)

    @property
    def index_capacity(self) -> int:
        return self.block_size // 4

    @property
    def pool_capacity(self) -> int:
        return self.block_size * self.pool_blocks

    def pool_step(self) -> int:
        """Pools grow a block at a time, so a partition with short strings stays small."""
        return self.block_size


@dataclass(frozen=True, slots=True)
class ColumnSnapshot:
    """What a reader may use of one column of a partition."""

    type: ColumnType
    count: int  # values (dense: == rows)
    pool_len: int  # string bytes
    vmin: Any  # zone map over the values (int), None for strings or no values
    vmax: Any
    bloom: bool = False  # a bloom filter file exists (string columns)
    dictionary: bool = False  # a dictionary file exists (low-cardinality string columns)


@dataclass(frozen=True, slots=True)
class PartitionSnapshot:
    """An immutable view of a partition's committed-to-memory state, for scans."""

    id: uuid.UUID
    source: int
    seq: int  # creation order in the database: resumable scans remember where they are by it
    directory: Path
    rows: int
    min_ts: int
    max_ts: int
    columns: dict[int, ColumnSnapshot]
    sealed: bool

    def path(self, name: str) -> Path:
        return self.directory / name


@dataclass(slots=True)
class ColumnState:
    """Mutable per-column state of a partition, with its writers while it is the head."""

    type: ColumnType
    count: int = 0
    pool_len: int = 0
    vmin: Any = None
    vmax: Any = None
    bloom: bool = False
    dictionary: bool = False
    values: BlockFile | None = None
    index: BlockFile | None = None
    pool: BlockFile | None = None

    def files(self) -> list[BlockFile]:
        return [f for f in (self.values, self.index, self.pool) if f is not None]

    def snapshot(self) -> ColumnSnapshot:
        return ColumnSnapshot(self.type, self.count, self.pool_len, self.vmin, self.vmax,
                              self.bloom, self.dictionary)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": int(self.type), "count": self.count}
        if self.type.is_string:
            out["pool_len"] = self.pool_len
        if self.vmin is not None:
            out["min"], out["max"] = self.vmin, self.vmax
        if self.bloom:
            out["bloom"] = True
        if self.dictionary:
            out["dictionary"] = True
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ColumnState":
        return cls(ColumnType(data["type"]), data["count"], data.get("pool_len", 0),
                   data.get("min"), data.get("max"), data.get("bloom", False),
                   data.get("dictionary", False))


def value_range(cv: ColumnValues, r0: int, r1: int) -> tuple[int, int]:
    """Positions in `cv`'s values of the batch rows [r0, r1)."""
    if cv.index is None:
        return r0, r1
    return int(np.searchsorted(cv.index, r0)), int(np.searchsorted(cv.index, r1))


def minmax(values: np.ndarray, ctype: ColumnType) -> tuple[int, int]:
    """Zone map of a non-empty array of integers of `ctype`."""
    if ctype.is_int128:
        return int128_minmax(values, ctype.signed)
    return int(values.min()), int(values.max())


@dataclass
class _Write:
    """Bytes prepared for one file, written in the second phase of an append."""

    file: BlockFile
    offset: int
    data: np.ndarray


@dataclass(eq=False)  # partitions compare by identity
class Partition:
    """State of one partition; `columns` of a sealed partition load lazily from meta.data."""

    id: uuid.UUID
    source: int
    relpath: str
    root: Path
    fs: FileOps
    geometry: Geometry
    seq: int = 0
    rows: int = 0
    min_ts: int = 0
    max_ts: int = 0
    sealed: bool = False
    dense: frozenset[int] = frozenset()
    # Block files created (directory entries to make durable before a commit names them).
    dir_generation: int = 0
    dir_synced: int = 0
    unsynced_dirs: list[Path] = field(default_factory=list)  # parents whose entries changed
    _dir_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _columns: dict[int, ColumnState] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # A sealed partition's snapshot, reused by every scan: (meta version it was taken at, it).
    # Its indexes appear later (writeback, add_column_index); write_meta bumps the version.
    _meta_version: int = 0
    _sealed_snapshot: tuple[int, "PartitionSnapshot"] | None = field(default=None, repr=False)

    @property
    def directory(self) -> Path:
        return self.root / self.relpath

    @property
    def columns(self) -> dict[int, ColumnState]:
        if self._columns is None:
            with self._lock:
                if self._columns is None:
                    self._columns = self._load_columns()
        return self._columns

    def _load_columns(self) -> dict[int, ColumnState]:
        meta = read_meta(self.fs, self.directory / fmt.PARTITION_META_FILE, fmt.PARTITION_MAGIC)
        return {int(k): ColumnState.from_json(v) for k, v in meta["columns"].items()}

    # --- capacity ------------------------------------------------------------------------

    def row_capacity(self, dense_types: list[ColumnType]) -> int:
        caps = [self.geometry.value_capacity(ColumnType.U64_DENSE)]
        caps += [self.geometry.value_capacity(t) for t in dense_types]
        return min(caps)

    def rows_that_fit(self, columns: list[ColumnValues], r0: int, r1: int) -> int:
        """How many of the batch rows [r0, r1) this partition can still take."""
        g = self.geometry
        dense_types = [cv.column.type for cv in columns if not cv.column.type.is_sparse]
        k = min(r1 - r0, self.row_capacity(dense_types) - self.rows)
        if k <= 0:
            return 0
        for cv in columns:
            ctype = cv.column.type
            state = self.columns.get(cv.column.id)
            count = state.count if state else 0
            v0, _ = value_range(cv, r0, r0)
            if ctype.is_sparse:
                room = min(g.value_capacity(ctype), g.index_capacity) - count
                avail = int(np.searchsorted(cv.index, r0 + k)) - v0
                if avail > room:
                    k = min(k, int(cv.index[v0 + max(room, 0)]) - r0)
            if ctype.is_string:
                pool_room = g.pool_capacity - (state.pool_len if state else 0)
                v_end = int(np.searchsorted(cv.index, r0 + k)) if ctype.is_sparse else v0 + k
                offsets = cv.offsets
                if offsets[v_end] - offsets[v0] > pool_room:
                    fit = int(np.searchsorted(offsets[v0:v_end + 1], offsets[v0] + pool_room,
                                              side="right")) - 1
                    k = min(k, (int(cv.index[v0 + fit]) - r0) if ctype.is_sparse else fit)
            if k <= 0:
                return 0
        return k

    # --- appending -----------------------------------------------------------------------

    def prepare(self, ts: np.ndarray, columns: list[ColumnValues], r0: int, r1: int,
                preallocate: bool, created: list[Path], transient: bool = False) -> list[_Write]:
        """Reserve space for rows [r0, r1) and return the writes; nothing is visible yet.

        New block files are created here (their paths are added to `created` so a failed
        append can remove them). May raise DiskFullError; the partition is unchanged.
        """
        writes: list[_Write] = []
        self._plan_values(TS_COLUMN, ColumnType.U64_DENSE, ts[r0:r1], writes, preallocate,
                          created, transient)
        for cv in columns:
            ctype = cv.column.type
            v0, v1 = value_range(cv, r0, r1)
            if v1 == v0:
                continue
            state = self._plan_values(cv.column.id, ctype, None, writes, preallocate, created,
                                      transient)
            if ctype.is_string:
                offs = cv.offsets[v0:v1 + 1]
                block = (offs[1:] - offs[0] + state.pool_len).astype(np.uint32)
                self._add_write(state.values, (state.count + 1) * 4, block, writes)
                pool_bytes = cv.values[offs[0]:offs[-1]]
                need = state.pool_len + len(pool_bytes)
                if need > state.pool.capacity:
                    step = self.geometry.pool_step()
                    state.pool.grow(min(self.geometry.pool_capacity, -(-need // step) * step))
                self._add_write(state.pool, state.pool_len, pool_bytes, writes)
            else:
                self._add_write(state.values, state.count * ctype.width, cv.values[v0:v1],
                                writes)
            if ctype.is_sparse:
                rows = (cv.index[v0:v1].astype(np.int64) - r0 + self.rows).astype(np.uint32)
                self._add_write(state.index, state.count * 4, rows, writes)
        return writes

    def _plan_values(self, cid: int, ctype: ColumnType, values: np.ndarray | None,
                     writes: list[_Write], preallocate: bool, created: list[Path],
                     transient: bool) -> ColumnState:
        columns = self.columns
        state = columns.get(cid)
        if state is None:
            state = ColumnState(ctype)
            self._create_files(cid, state, preallocate, created, transient)
            columns[cid] = state
        elif state.values is None:
            raise RuntimeError(f"partition {self.id} is sealed")
        if values is not None:
            self._add_write(state.values, state.count * ctype.width, values, writes)
        return state

    def _create_files(self, cid: int, state: ColumnState, preallocate: bool,
                      created: list[Path], transient: bool) -> None:
        ctype = state.type
        g = self.geometry
        directory = self.directory

        def make(name: str, magic: bytes, width: int, capacity: int) -> BlockFile:
            path = directory / name
            block = BlockFile.create(self.fs, path,
                                     FileHeader(magic, int(ctype), cid, width, capacity, self.id),
                                     preallocate, transient)
            created.append(path)
            return block

        self.dir_generation += 1
        state.values = make(fmt.block_file(cid), fmt.BLOCK_MAGIC, ctype.width, g.block_size)
        if ctype.is_sparse:
            state.index = make(fmt.index_file(cid), fmt.INDEX_MAGIC, 4, g.block_size)
        if ctype.is_string:
            state.pool = make(fmt.pool_file(cid), fmt.POOL_MAGIC, 1, g.pool_step())
            # Offset 0 of the first string; rows then store where each string ends.
            state.values.reserve(4)
            state.values.write(0, np.zeros(1, np.uint32))

    @staticmethod
    def _add_write(block: BlockFile, offset: int, data: np.ndarray, writes: list[_Write]) -> None:
        block.reserve(offset + data.nbytes)
        writes.append(_Write(block, offset, data))

    @staticmethod
    def write(writes: list[_Write]) -> None:
        for w in writes:
            w.file.write(w.offset, w.data)

    def publish(self, ts: np.ndarray, columns: list[ColumnValues], r0: int, r1: int) -> None:
        """Make rows [r0, r1) visible: raise counts and widen zone maps (writes are done)."""
        state = self.columns[TS_COLUMN]
        seg = ts[r0:r1]
        lo, hi = int(seg.min()), int(seg.max())
        if self.rows == 0:
            self.min_ts, self.max_ts = lo, hi
        else:
            self.min_ts, self.max_ts = min(self.min_ts, lo), max(self.max_ts, hi)
        state.vmin, state.vmax = self.min_ts, self.max_ts
        state.count += r1 - r0
        for cv in columns:
            ctype = cv.column.type
            v0, v1 = value_range(cv, r0, r1)
            if v1 == v0:
                continue
            col = self.columns[cv.column.id]
            if ctype.is_string:
                col.pool_len += int(cv.offsets[v1] - cv.offsets[v0])
            else:
                lo, hi = minmax(cv.values[v0:v1], ctype)
                col.vmin = lo if col.vmin is None else min(col.vmin, lo)
                col.vmax = hi if col.vmax is None else max(col.vmax, hi)
            col.count += v1 - v0
        self.rows += r1 - r0

    def forget_columns(self, before: dict[int, tuple[int, int]]) -> None:
        """Undo column blocks created by a failed append (counts were never raised)."""
        for cid in [c for c in self.columns if c not in before]:
            for f in self.columns[cid].files():
                f.close()
            del self.columns[cid]

    # --- state --------------------------------------------------------------------------

    def writers(self) -> list[BlockFile]:
        return [f for state in dict(self._columns or {}).values() for f in state.files()]

    def snapshot(self) -> PartitionSnapshot:
        cached = self._sealed_snapshot
        if cached is not None and cached[0] == self._meta_version:
            return cached[1]
        version, sealed = self._meta_version, self.sealed
        # dict() copies atomically under the GIL while an append may add a column.
        columns = {c: s.snapshot() for c, s in dict(self.columns).items() if s.count}
        snap = PartitionSnapshot(self.id, self.source, self.seq, self.directory, self.rows,
                                 self.min_ts, self.max_ts, columns, sealed)
        if sealed:  # rows and counts are final; only index flags may still change
            self._sealed_snapshot = (version, snap)
        return snap

    def counts(self) -> dict[int, list[int]]:
        """Per column [count, pool_len]: what the catalog records for a head partition."""
        return {cid: [s.count, s.pool_len] for cid, s in dict(self.columns).items() if s.count}

    def meta_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "source": self.source, "seq": self.seq, "path": self.relpath,
            "rows": self.rows, "min_ts": self.min_ts, "max_ts": self.max_ts,
            "sealed": self.sealed, "dense": sorted(self.dense),
            "columns": {str(c): s.to_json() for c, s in sorted(dict(self.columns).items())
                        if s.count},
        }

    def sync_directories(self, generation: int) -> None:
        """Make the directory entries of this partition durable (its files, its directory)."""
        with self._dir_lock:
            while self.unsynced_dirs:
                self.fs.fsync_dir(self.unsynced_dirs[0])
                self.unsynced_dirs.pop(0)
            if self.dir_synced != generation:
                self.fs.fsync_dir(self.directory)
                self.dir_synced = generation

    def write_meta(self) -> None:
        write_meta(self.fs, self.directory / fmt.PARTITION_META_FILE, fmt.PARTITION_MAGIC,
                   self.meta_payload())
        self._meta_version += 1  # an index was added: snapshots taken before lack it

    def group_entry(self) -> dict[str, Any]:
        """This partition's line in pgmeta.data."""
        return {"id": str(self.id), "seq": self.seq, "path": self.relpath, "rows": self.rows,
                "min_ts": self.min_ts, "max_ts": self.max_ts, "sealed": self.sealed}

    def close_writers(self, drop_cache: bool) -> None:
        for f in self.writers():
            if drop_cache:
                f.drop_cache()
            f.close()
        for state in (self._columns or {}).values():
            state.values = state.index = state.pool = None
