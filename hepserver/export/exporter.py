"""Export hyena partitions to Parquet, exactly once.

Sealed partitions are exported whole; `export(everything=True)` also takes the rows appended
so far to open partitions (and the rest of them later). A partition's rows are split by
10-minute window and, for SIP, by Homer table (call / registration / default); each piece is
one file. Files are written under `.tmp`, synced, committed in metadata.json together with how
many rows of the partition are exported, then renamed (see catalog.py). Partitions written one
after another are committed together, up to COMMIT_ROWS rows at a time: a commit costs several
fsyncs, and a crash only makes the uncommitted ones be exported again.

Reading and converting a partition (hyena's read, the split, rcinfo and address text) costs
about a quarter of what writing its Parquet does. With `threads` = n > 1 the files are written
on n - 1 threads while the calling thread prepares the next partition (pyarrow's writer and
the fsyncs release the GIL), so with a spare core the export runs at about the writer's speed.
Partitions are listed and committed in order, whichever thread wrote their files.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hepserver.export.catalog import CHUNK_NS, NS_PER_US, FileEntry, TypeCatalog
from hepserver.export.table import PROFILE_TABLES, export_table, table_name

__all__ = ["ExportSettings", "Exporter", "write_parquet", "prepare_pieces", "split_pieces",
           "hep_types"]

log = logging.getLogger("hepserver.export")


@dataclass(frozen=True)
class ExportSettings:
    directory: Path
    writer_id: str
    compression: str = "zstd"
    compression_level: int | None = None
    row_group_rows: int = 128 * 1024
    threads: int = 2  # 1: read, convert, write in turn; n: n - 1 threads write meanwhile


COMMIT_ROWS = 1 << 20  # rows written between two commits (at least one partition's)
IN_FLIGHT = 2  # partitions whose files may be being written at once (their tables are held)
HEP_TYPES_BELOW = 1000  # sources from 1000 on hold line-protocol measurements, not HEP


def hep_types(db) -> list[int]:
    return [s for s in db.sources if s < HEP_TYPES_BELOW]


def write_parquet(table: pa.Table, path: Path, settings: ExportSettings) -> int:
    """Write and fsync one file; returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression=settings.compression,
                   compression_level=settings.compression_level,
                   row_group_size=settings.row_group_rows, write_statistics=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path.stat().st_size


class Exporter:
    def __init__(self, db, settings: ExportSettings, on_export=None) -> None:
        self.db = db
        self.settings = settings
        # called with (hep type, [(table, pa.Table)]) per exported partition, once committed
        self.on_export = on_export
        self.rows_exported = 0

    def catalog(self, hep_type: int) -> TypeCatalog:
        return TypeCatalog.open(self.settings.directory, self.settings.writer_id, hep_type)

    def export(self, everything: bool = False) -> int:
        """Export what is due; returns the rows exported."""
        total = 0
        listed = {t: self.db.partitions(t) for t in hep_types(self.db)}
        self.db.flush()  # every row listed is durable: none exported that a crash could lose
        for hep_type, parts in listed.items():
            catalog = self.catalog(hep_type)
            present = {str(part.id) for part in parts}
            due = [(part, catalog.partitions.get(str(part.id), 0)) for part in parts]
            due = [(part, done) for part, done in due
                   if done < part.rows and (part.sealed or everything)]
            total += self._export_due(catalog, due)
            stale = [p for p in catalog.partitions if p not in present]
            if stale:  # partitions retention removed from hyena: forget their watermarks
                for pid in stale:
                    del catalog.partitions[pid]
                catalog.save()
        self.rows_exported += total
        return total

    def _export_due(self, catalog: TypeCatalog, due: list) -> int:
        """Export (partition, rows already exported) in order; returns the rows exported.
        With threads > 1 the files are written on threads - 1 writer threads while this
        thread prepares the next partition (here: numpy's allocations stay in the main malloc
        arena, which reuses them; on other threads glibc maps fresh pages each time). Up to
        IN_FLIGHT partitions wait for or are in writing. They are listed in the catalog in
        order and committed together every COMMIT_ROWS rows and at the end, also when an
        error ends the export: what was written stays exported."""
        commits = _Commits(catalog, self.on_export)
        writing: deque[_Writing] = deque()
        writers = self.settings.threads - 1
        pool = ThreadPoolExecutor(writers, thread_name_prefix="hep-export") \
            if writers > 0 and due else None
        try:
            for part, start in due:
                count, pieces = self.prepare(catalog.hep_type, part, start)
                writing.append(self._start(catalog, part, start, count, pieces, pool))
                while writing and (len(writing) > IN_FLIGHT or writing[0].done()):
                    commits.add(writing.popleft())
            while writing:
                commits.add(writing.popleft())
        finally:
            if pool is not None:
                pool.shutdown(wait=True)  # after an error: the partitions prepared before it
            for done in [w for w in writing if w.succeeded()]:
                commits.add(done)
            commits.close()
        return commits.total

    def prepare(self, hep_type: int, part, start: int = 0) -> tuple[int, list]:
        """(rows read, [(Homer table, exported rows)]) of one partition from row `start`."""
        return prepare_pieces(self.db, hep_type, part, start)

    def _start(self, catalog: TypeCatalog, part, start: int, count: int, pieces: list,
               pool: ThreadPoolExecutor | None) -> "_Writing":
        """Write a partition's files under .tmp, synced: at once, or on `pool`'s threads."""
        staged = [self._stage(catalog, name, piece) for name, piece in pieces]
        if pool is None:
            sizes: list = [write_parquet(rows, tmp, self.settings) for tmp, rows, _ in staged]
        else:
            sizes = [pool.submit(write_parquet, rows, tmp, self.settings)
                     for tmp, rows, _ in staged]
        return _Writing(part, start, count, pieces if self.on_export else [],
                        [(tmp, entry) for tmp, _, entry in staged], sizes)

    def _stage(self, catalog: TypeCatalog, name: str,
               piece: pa.Table) -> tuple[Path, pa.Table, FileEntry]:
        """(.tmp path to write, rows, catalog entry without its size) for one piece; file ids
        are taken in piece order, whichever thread writes the file."""
        times = piece.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
        chunk = int(times.min()) * NS_PER_US // CHUNK_NS * CHUNK_NS
        file_id, relative = catalog.new_file(chunk)
        final = catalog.directory / relative
        entry = FileEntry(file_id, relative, name, 0, piece.num_rows, chunk,
                          int(times.min()) * NS_PER_US, int(times.max()) * NS_PER_US)
        return final.with_name(final.name + ".tmp"), piece, entry


@dataclass
class _Writing:
    """A partition whose files are being written (sizes: ints, or futures of a pool)."""

    part: object
    start: int
    count: int
    pieces: list  # kept for on_export only
    files: list[tuple[Path, FileEntry]]  # .tmp path, catalog entry without its size
    sizes: list

    def done(self) -> bool:
        return all(not isinstance(s, Future) or s.done() for s in self.sizes)

    def succeeded(self) -> bool:
        """Every file written (not failed, not cancelled)."""
        return all(not isinstance(s, Future) or (s.done() and not s.cancelled() and
                                                  s.exception() is None) for s in self.sizes)

    def result(self) -> list[int]:
        """The files' sizes, once written (raises what a write raised)."""
        return [s.result() if isinstance(s, Future) else s for s in self.sizes]


class _Commits:
    """Written partitions, listed in the catalog in order (files pending their rename, the
    new watermark) and committed every COMMIT_ROWS rows and by close()."""

    def __init__(self, catalog: TypeCatalog, on_export) -> None:
        self.catalog = catalog
        self.on_export = on_export
        self.total = self.uncommitted = 0
        self.exported: list = []  # the pieces of uncommitted partitions, for on_export

    def add(self, writing: _Writing) -> None:
        catalog = self.catalog
        for (tmp, entry), size in zip(writing.files, writing.result()):
            entry.size_bytes = size
            catalog.files.append(entry)
            catalog.pending.append([str(tmp.relative_to(catalog.directory)), entry.path])
        catalog.partitions[str(writing.part.id)] = writing.start + writing.count
        self.total += writing.count
        self.uncommitted += writing.count
        if self.on_export is not None:
            self.exported.append(writing.pieces)
        if self.uncommitted >= COMMIT_ROWS:
            self.commit()

    def commit(self) -> None:
        exported, self.exported, self.uncommitted = self.exported, [], 0
        self.catalog.save()  # commit: files listed (pending rename) with the new watermarks
        self.catalog.finish()
        for pieces in exported:
            self.on_export(self.catalog.hep_type, pieces)

    def close(self) -> None:
        if self.uncommitted:
            self.commit()


def prepare_pieces(db, hep_type: int, part, start: int = 0) -> tuple[int, list]:
    """(rows read, [(Homer table, exported rows)]) of one partition from row `start`: the
    files' contents, for the exporter and the DuckLake alike. hyena's rows are split first,
    then each piece converted: a split copies fewer bytes before the conversion (no rcinfo,
    no address text yet)."""
    count, pieces = _read_pieces(db, hep_type, part, start)
    return count, [(name, export_table(piece, hep_type)) for name, piece in pieces]


def _read_pieces(db, hep_type: int, part, start: int) -> tuple[int, list]:
    """hyena's rows of the partition from `start`, as (Homer table, rows) pieces."""
    if hep_type == 1 and part.sealed and start == 0:
        pieces = _scan_profiles(db, part)
        if pieces is not None:
            return part.rows, pieces
    rows = db.read_partition(part.id, start, part.rows)
    return rows.num_rows, list(split_pieces(rows, hep_type, time_column="ts"))


def _scan_profiles(db, part) -> list | None:
    """A whole sealed SIP partition's pieces, read per Homer table by filtered scans: hyena
    gathers each table's rows itself, once (a read and a split copy them twice). None when
    some rows have no profile (they go to the default table by a split)."""
    keyed, found = [], 0
    for kind, profile in enumerate(PROFILE_TABLES):
        rows = db.scan(partitions=[part.id], filters=[("sip_profile", "==", profile)])
        found += rows.num_rows
        if rows.num_rows:
            keyed += [(window * 4 + kind, table_name(1, profile), piece)
                      for window, piece in _split_by_key(rows, _windows(rows, "ts"))]
    if found != part.rows:
        return None
    return [(name, piece) for _, name, piece in sorted(keyed, key=lambda k: k[0])]


def split_pieces(table: pa.Table, hep_type: int, time_column: str = "timestamp"):
    """(Homer table, rows) per 10-minute window and table, in time order of the windows, from
    exported rows or (`time_column="ts"`) rows as hyena returns them. When every row belongs to
    one piece, the table itself is the piece (no copy)."""
    if table.num_rows == 0:
        return
    window = _windows(table, time_column)
    if hep_type == 1:
        profile = table.column("sip_profile").combine_chunks()
        names = np.array([table_name(1, p) for p in ("call", "registration", "default")])
        code = pc.fill_null(pc.index_in(profile, pa.array(["call", "registration"])), 2)
        kind = code.to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        names = np.array([table_name(hep_type)])
        kind = np.zeros(len(window), dtype=np.int64)
    for value, piece in _split_by_key(table, window * 4 + kind):
        yield str(names[value % 4]), piece


def _windows(table: pa.Table, time_column: str) -> np.ndarray:
    """The 10-minute window (number since the epoch) of each row."""
    micros = table.column(time_column).combine_chunks().cast(pa.int64()).to_numpy()
    return micros * NS_PER_US // CHUNK_NS


def _split_by_key(table: pa.Table, key: np.ndarray):
    """(key, rows) per distinct key, ascending; the table itself when all rows share one."""
    values = np.unique(key)
    if len(values) == 1:
        yield int(values[0]), table
        return
    for value in values:
        yield int(value), table.take(pa.array(np.flatnonzero(key == value)))
