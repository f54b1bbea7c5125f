"""Export hyena partitions to Parquet, exactly once.

Sealed partitions are exported whole; `export(everything=True)` also takes the rows appended
so far to open partitions (and the rest of them later). A partition's rows are split by
10-minute window and, for SIP, by Homer table (call / registration / default); each piece is
one file. Files are written under `.tmp`, synced, committed in metadata.json together with how
many rows of the partition are exported, then renamed (see catalog.py).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hepserver.export.catalog import CHUNK_NS, NS_PER_US, FileEntry, TypeCatalog
from hepserver.export.table import export_table, table_name

__all__ = ["ExportSettings", "Exporter", "write_parquet", "split_pieces", "hep_types"]

log = logging.getLogger("hepserver.export")


@dataclass(frozen=True)
class ExportSettings:
    directory: Path
    writer_id: str
    compression: str = "zstd"
    compression_level: int | None = None
    row_group_rows: int = 128 * 1024


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
        self.on_export = on_export  # called with (hep type, [(table, pa.Table)]) per commit
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
            present = set()
            for part in parts:
                present.add(str(part.id))
                done = catalog.partitions.get(str(part.id), 0)
                if done >= part.rows or (not part.sealed and not everything):
                    continue
                total += self._export_rows(catalog, part, done)
            stale = [p for p in catalog.partitions if p not in present]
            if stale:  # partitions retention removed from hyena: forget their watermarks
                for pid in stale:
                    del catalog.partitions[pid]
                catalog.save()
        self.rows_exported += total
        return total

    def _export_rows(self, catalog: TypeCatalog, part, start: int) -> int:
        rows = self.db.read_partition(part.id, start, part.rows)
        table = export_table(rows, catalog.hep_type)
        pieces = list(split_pieces(table, catalog.hep_type))
        for name, piece in pieces:
            self._stage(catalog, name, piece)
        catalog.partitions[str(part.id)] = start + rows.num_rows
        catalog.save()  # commit: files listed (pending rename) with the new watermark
        catalog.finish()
        if self.on_export is not None:
            self.on_export(catalog.hep_type, pieces)
        return rows.num_rows

    def _stage(self, catalog: TypeCatalog, name: str, piece: pa.Table) -> None:
        times = piece.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
        chunk = int(times.min()) * NS_PER_US // CHUNK_NS * CHUNK_NS
        file_id, relative = catalog.new_file(chunk)
        final = catalog.directory / relative
        tmp = final.with_name(final.name + ".tmp")
        size = write_parquet(piece, tmp, self.settings)
        catalog.files.append(FileEntry(file_id, relative, name, size, piece.num_rows, chunk,
                                       int(times.min()) * NS_PER_US,
                                       int(times.max()) * NS_PER_US))
        catalog.pending.append([str(tmp.relative_to(catalog.directory)), relative])


def split_pieces(table: pa.Table, hep_type: int):
    """(Homer table, rows) per 10-minute window and table, in time order of the windows."""
    if table.num_rows == 0:
        return
    micros = table.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
    window = micros * NS_PER_US // CHUNK_NS
    if hep_type == 1:
        profile = table.column("sip_profile").combine_chunks()
        names = np.array([table_name(1, p) for p in ("call", "registration", "default")])
        code = pc.fill_null(pc.index_in(profile, pa.array(["call", "registration"])), 2)
        kind = code.to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        names = np.array([table_name(hep_type)])
        kind = np.zeros(len(micros), dtype=np.int64)
    key = window * 4 + kind
    for value in np.unique(key):
        rows = np.flatnonzero(key == value)
        yield str(names[value % 4]), table.take(pa.array(rows))
