"""The embedded engine: open a data directory, define columns, append, flush, list partitions.

Durability: `append` makes rows visible to readers in this process at once; `flush` (or
`append(..., durable=True)`) makes everything appended so far survive a crash. After a crash
the directory reopens at its last flush, with no repair step (see docs/format.md, "Commit").
"""
from __future__ import annotations

import logging
import os
import resource
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pyarrow as pa

from hyena.engine.batch import make_batch
from hyena.engine.catalog import Schema, read_catalog, write_catalog
from hyena.engine.config import Config
from hyena.engine.group import PartitionGroup
from hyena.engine.indexes import build_partition_blooms
from hyena.engine.partition import Geometry, Partition, PartitionSnapshot
from hyena.engine.recovery import load_groups, remove_unknown_sources
from hyena.engine.scan.execute import Scanner
from hyena.engine.syncer import Syncer
from hyena.engine.scan.request import TS_END, ScanSpec, make_spec, spec_column
from hyena.engine.writeback import Writeback
from hyena.errors import ClosedError, CorruptFileError, InvalidDataError, InvalidScanError
from hyena.storage import format as fmt
from hyena.storage.fs import FileOps
from hyena.storage.fstype import filesystem_type
from hyena.storage.lock import DirectoryLock
from hyena.storage.mapcache import MapCache
from hyena.types import Column, ColumnType

__all__ = ["Database", "PartitionInfo", "open_database"]

log = logging.getLogger("hyena")


@dataclass(frozen=True)
class PartitionInfo:
    """A partition as listed to users: its id, source, time range [min_ts, max_ts], rows."""

    id: uuid.UUID
    source: int
    min_ts: int
    max_ts: int
    rows: int
    path: str  # relative to the data directory
    sealed: bool


class Database:
    """An open data directory. Thread safe: appends to different sources run in parallel."""

    def __init__(self, path: str | os.PathLike[str], config: Config | None = None, *,
                 fs: FileOps | None = None) -> None:
        self.path = Path(path).absolute()
        self.config = config or Config()
        self.fs = fs or FileOps()
        self._closed = True
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = DirectoryLock(self.path)
        self._lock.acquire()
        try:
            self._open()
        except BaseException:
            self._lock.release()
            raise
        self._closed = False

    def _open(self) -> None:
        _raise_nofile_limit()
        self.maps = MapCache(self.config.max_maps or _default_map_limit())
        self._groups_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._seq_lock = threading.Lock()
        self._seq = 0
        self._syncer = Syncer()
        self._writeback = Writeback(self.config.drop_sealed_pages, self._bloom_columns,
                                    self._syncer)
        self.preallocate = _preallocate(self.config, self.path)
        self.scanner = Scanner(self.snapshot, self.maps, self.config.scan_threads)
        try:
            catalog = read_catalog(self.fs, self.path)
        except FileNotFoundError:
            catalog = None
        if catalog is None:
            if any(c.name.isdigit() for c in self.path.iterdir()):
                raise CorruptFileError(self.path / fmt.CATALOG_FILE,
                                       "missing, but the directory holds partition groups")
            self.schema = Schema()
            self.geometry = Geometry(self.config.block_size, self.config.pool_blocks)
            self.groups: dict[int, PartitionGroup] = {}
            self._sequence = 0
            self._write_catalog([])
            return
        self.schema = Schema.from_json(catalog)
        geo = catalog["geometry"]
        self.geometry = Geometry(geo["block_size"], geo["pool_blocks"])
        self._sequence = catalog["commit"]
        self.groups = load_groups(self.fs, self.path, self.schema, self.geometry,
                                  catalog["groups"], self.preallocate, self._writeback.submit,
                                  self._next_seq)
        self._seq = max((p.seq for g in self.groups.values() for p in g.partitions), default=0)
        remove_unknown_sources(self.fs, self.path, set(self.groups))
        for tmp in self.path.glob("*" + fmt.TEMP_SUFFIX):
            self.fs.unlink(tmp)

    # --- schema ----------------------------------------------------------------------------

    @property
    def columns(self) -> list[Column]:
        """Every column, by id: 0 ts, 1 source, then user columns in order of creation."""
        return self.schema.columns

    @property
    def indexes(self) -> dict[str, set[str]]:
        """Index kinds per column name (e.g. {"call_id": {"bloom"}})."""
        return {self.schema.resolve(cid).name: set(kinds)
                for cid, kinds in self.schema.indexes.items() if kinds}

    def column(self, key: int | str) -> Column:
        return self.schema.resolve(key)

    def add_column(self, name: str, type: ColumnType | str | int) -> Column:
        """Add a column (durably). Rows appended before it read as null for it."""
        self._check_open()
        column = self.schema.add(name, type)
        self.flush()
        return column

    def add_column_index(self, column: int | str, kind: str = "bloom") -> Column:
        """Index a string column: a trigram bloom filter per sealed partition lets scans for
        `==`, `starts_with`, `ends_with` and `contains` skip partitions that cannot match.
        Builds the filters of partitions sealed so far (durably), then of each new one."""
        self._check_open()
        col = self.schema.add_index(column, kind)
        self.flush()  # the catalog names the index before any file exists
        for group in list(self.groups.values()):
            for part in group.sealed_partitions():
                if build_partition_blooms(part, [col.id]):
                    part.write_meta()
        return col

    def _bloom_columns(self) -> list[int]:
        return [cid for cid, kinds in self.schema.indexes.items() if "bloom" in kinds]

    # --- writing -------------------------------------------------------------------------

    def append(self, source: int, ts: Any, columns: Mapping[Any, Any] | None = None, *,
               durable: bool = False) -> int:
        """Append rows to a source; return the number of rows.

        `ts` holds microseconds since the epoch; `columns` maps column names (or ids) to values
        (see docs/api.md for accepted forms). The whole batch is validated first: invalid
        input raises InvalidDataError and nothing is written. With `durable=True` the rows
        survive a crash once this returns (it flushes).
        """
        self._check_open()
        batch = make_batch(source, ts, columns, self.schema.resolve)
        self._group(batch.source).append(batch)
        if durable:
            self.flush()
        return batch.rows

    def append_arrow(self, source: int, table: pa.Table | pa.RecordBatch, *, ts: str = "ts",
                     durable: bool = False) -> int:
        """Append an Arrow table whose `ts` column holds the timestamps and whose other
        columns are named after hyena columns (nulls allowed in sparse columns)."""
        if ts not in table.column_names:
            raise InvalidDataError("table has no timestamp column", expected=ts)
        columns = {name: table.column(name) for name in table.column_names if name != ts}
        return self.append(source, table.column(ts), columns, durable=durable)

    def _group(self, source: int) -> PartitionGroup:
        group = self.groups.get(source)
        if group is None:
            with self._groups_lock:
                group = self.groups.get(source)
                if group is None:
                    group = PartitionGroup(source, self.path, self.fs, self.geometry,
                                           self.preallocate, self._writeback.submit,
                                           self._next_seq)
                    self.groups = {**self.groups, source: group}
        return group

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def flush(self) -> None:
        """Make every append that returned before this call durable."""
        self._check_open()
        with self._flush_lock:
            groups = list(self.groups.values())
            states = [g.commit_state() for g in groups]
            self._writeback.drain()
            self._syncer.sync(f for state in states for f in state.head_files)
            for state in states:
                if state.head is not None:
                    state.head.sync_directories(state.head_dir_generation)
            for group, state in zip(groups, states):
                if state.group_meta_stale:
                    group.write_group_meta()
            self._write_catalog([s.record for s in states if s.record["last_seq"]])

    def _write_catalog(self, records: list[dict[str, Any]]) -> None:
        self._sequence += 1
        write_catalog(self.fs, self.path, self.schema,
                      {"block_size": self.geometry.block_size,
                       "pool_blocks": self.geometry.pool_blocks},
                      records, self._sequence)

    # --- reading -------------------------------------------------------------------------

    @property
    def sources(self) -> list[int]:
        return sorted(s for s, g in self.groups.items() if g.total_rows())

    def partitions(self, source: int | None = None) -> list[PartitionInfo]:
        """Partitions with rows, by source then age."""
        out = []
        for src in ([source] if source is not None else sorted(self.groups)):
            group = self.groups.get(src)
            if group is None:
                continue
            for snap in group.snapshot():
                out.append(PartitionInfo(snap.id, snap.source, snap.min_ts, snap.max_ts,
                                         snap.rows, str(snap.directory.relative_to(self.path)),
                                         snap.sealed))
        return out

    def drop_partitions(self, ids: Iterable[uuid.UUID | str]) -> int:
        """Remove whole partitions (retention), durably; returns how many were removed.
        Scans already running keep reading them; the files go once the removal is committed."""
        self._check_open()
        wanted = {p if isinstance(p, uuid.UUID) else uuid.UUID(str(p)) for p in ids}
        victims = [v for g in list(self.groups.values()) for v in g.drop(wanted)]
        if not victims:
            return 0
        self.flush()
        for part in victims:
            self.maps.evict_under(part.directory)
            self.fs.remove_tree(part.directory)
        return len(victims)

    def read_partition(self, partition_id: uuid.UUID | str, start: int = 0,
                       stop: int | None = None, columns: Iterable[Any] | None = None) -> pa.Table:
        """Rows [start, stop) of one partition, in the order appended (for exports)."""
        self._check_open()
        pid = partition_id if isinstance(partition_id, uuid.UUID) else uuid.UUID(str(partition_id))
        spec = self._spec({"partitions": [pid], "columns": columns})
        parts = self.scanner.partitions(spec)
        if not parts:
            raise InvalidScanError("no such partition", partition=pid)
        return self.scanner.rows(spec, parts[0], start, stop).to_arrow()

    def snapshot(self, sources: Iterable[int] | None = None, min_ts: int = 0,
                 max_ts: int = 1 << 64) -> list[PartitionSnapshot]:
        """Partitions meeting [min_ts, max_ts) as of now: sources ascending, oldest first."""
        wanted = sorted(self.groups) if sources is None else sorted(set(sources))
        out = []
        for src in wanted:
            group = self.groups.get(src)
            if group is not None:
                out.extend(group.snapshot(min_ts, max_ts))
        return out

    # --- scans ---------------------------------------------------------------------------

    def _spec(self, options: dict[str, Any]) -> ScanSpec:
        self._check_open()
        return make_spec(self.schema.resolve, self.schema.columns, **options)

    def scan(self, *, min_ts: int = 0, max_ts: int = TS_END, sources: Iterable[int] | None = None,
             partitions: Iterable[Any] | None = None, columns: Iterable[Any] | None = None,
             filters: Any = None) -> pa.Table:
        """Rows with min_ts <= ts < max_ts that pass `filters`, as a pyarrow Table.

        `filters` is an OR of AND-groups: `[[("method", "==", "INVITE"), ("code", ">=", 400)],
        [("call_id", "contains", "abc")]]`; one AND-group may be given without the outer list.
        `columns` is the projection (names or ids; default every column). Rows come back by
        source (ascending), then partition (oldest first), then in the order appended.
        See docs/api.md for operators and the Arrow types."""
        return self.scanner.run(self._spec(locals_without_self(locals()))).to_arrow()

    def scan_numpy(self, *, min_ts: int = 0, max_ts: int = TS_END,
                   sources: Iterable[int] | None = None, partitions: Iterable[Any] | None = None,
                   columns: Iterable[Any] | None = None, filters: Any = None) -> dict[str, Any]:
        """Like `scan`, as numpy arrays per column (masked arrays where values are null)."""
        return self.scanner.run(self._spec(locals_without_self(locals()))).to_numpy()

    def scan_chunk(self, *, row_limit: int, state: int | None = None, min_ts: int = 0,
                   max_ts: int = TS_END, sources: Iterable[int] | None = None,
                   partitions: Iterable[Any] | None = None, columns: Iterable[Any] | None = None,
                   filters: Any = None) -> tuple[pa.Table, int | None]:
        """At most `row_limit` rows of a scan, and the state to pass back for the next ones
        (None once the scan is complete). Chunks concatenated equal `scan`."""
        options = locals_without_self(locals())
        row_limit, state = options.pop("row_limit"), options.pop("state")
        result = self.scanner.chunk(self._spec(options), row_limit, state)
        return result.to_arrow(), result.state

    def scan_iter(self, *, row_limit: int = 1 << 20, **options: Any) -> Iterator[pa.Table]:
        """Yield a scan as tables of at most `row_limit` rows, in bounded memory."""
        state = None
        while True:
            table, state = self.scan_chunk(row_limit=row_limit, state=state, **options)
            if table.num_rows:
                yield table
            if state is None:
                return

    def count(self, *, min_ts: int = 0, max_ts: int = TS_END,
              sources: Iterable[int] | None = None, partitions: Iterable[Any] | None = None,
              filters: Any = None, by: int | str | None = None) -> Any:
        """Number of rows a scan with these arguments would return; with `by`, a dict of that
        number per value of the column `by` (None for rows without a value), most frequent
        first. Reads no more than needed: partitions inside the time range are counted from
        metadata when there are no filters."""
        options = locals_without_self(locals())
        by = options.pop("by")
        spec = self._spec(options)
        if by is None:
            return self.scanner.count(spec)
        column = spec_column(self.schema.resolve, by)
        return dict(self.scanner.count_by(spec, column).most_common())

    # --- lifecycle -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("database is closed", path=self.path)

    def close(self) -> None:
        """Flush, close every file and release the directory lock."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._writeback.close()
            self._syncer.close()
            self.scanner.close()
            for group in self.groups.values():
                for part in group.partitions:
                    part.close_writers(drop_cache=False)
            self.maps.clear()
            self._lock.release()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<hyena.Database {str(self.path)!r} {state}>"


def open_database(path: str | os.PathLike[str], config: Config | None = None,
                  **options: Any) -> Database:
    """Open (or create) a data directory; keyword options override fields of `config`."""
    if options:
        base = config or Config()
        config = Config(**{**base.__dict__, **options})
    return Database(path, config)


def locals_without_self(names: dict[str, Any]) -> dict[str, Any]:
    """A method's keyword arguments, to pass on as options."""
    return {k: v for k, v in names.items() if k not in ("self", "__class__")}


def _raise_nofile_limit() -> None:
    """Lift the soft open-files limit to the hard one: maps keep a descriptor each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def _default_map_limit() -> int:
    """A quarter of what the process may map or open, at most 16384 maps (16 GiB of blocks)."""
    try:
        max_maps = int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        max_maps = 65530
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    nofile = soft if soft != resource.RLIM_INFINITY else 1 << 20
    return max(16, min(16384, max_maps // 4, nofile // 4))


def _preallocate(config: Config, path: Path) -> bool:
    if config.preallocate != "auto":
        return config.preallocate == "always"
    return filesystem_type(path) not in ("btrfs", "zfs")
