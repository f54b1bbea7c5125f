"""Compaction: the 10-minute files of an hour, per Homer table, merged into one `c_<id>.parquet`.

Only whole hours that ended at least `settle` seconds ago are merged (late files of an hour
still arrive until then). The merged file is written under `.tmp`, synced, and committed in
metadata.json in the same write that drops the small files; then it is renamed and they are
deleted. Readers of metadata.json (or DuckLake) see each hour exactly once, before and after.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict

import pyarrow as pa
import pyarrow.parquet as pq

from hepserver.export.catalog import FileEntry, TypeCatalog
from hepserver.export.exporter import ExportSettings, write_parquet

__all__ = ["compact"]

log = logging.getLogger("hepserver.compaction")
HOUR_NS = 3600 * 1_000_000_000


def compact(catalog: TypeCatalog, settings: ExportSettings, settle: float = 600.0,
            now_ns: int | None = None, fetch=None) -> int:
    """Merge what is due in one HEP type's files; returns how many files were merged away.
    `fetch(catalog, path)` brings back a file whose local copy was removed after upload."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    groups: dict[tuple[str, int], list[FileEntry]] = defaultdict(list)
    for entry in catalog.files:
        hour = entry.chunk_time // HOUR_NS * HOUR_NS
        if entry.level == "10m" and hour + HOUR_NS + int(settle * 1e9) <= now_ns:
            groups[(entry.table, hour)].append(entry)
    merged = 0
    for (table_name, hour), entries in sorted(groups.items()):
        if len(entries) < 2:
            continue
        entries.sort(key=lambda e: (e.chunk_time, e.id))
        paths = [fetch(catalog, e.path) if fetch else catalog.directory / e.path
                 for e in entries]
        tables = [pq.read_table(path) for path in paths]
        combined = pa.concat_tables(tables, promote_options="permissive")
        file_id, relative = catalog.new_file(hour, compacted=True)
        final = catalog.directory / relative
        tmp = final.with_name(final.name + ".tmp")
        size = write_parquet(combined, tmp, settings)
        catalog.files = [f for f in catalog.files if f not in entries]
        catalog.files.append(FileEntry(
            file_id, relative, table_name, size, combined.num_rows, hour,
            min(e.min_time for e in entries), max(e.max_time for e in entries), level="1h"))
        catalog.pending.append([str(tmp.relative_to(catalog.directory)), relative])
        catalog.deleting.extend(e.path for e in entries)
        catalog.save()  # commit: the hour is now the merged file
        catalog.finish()
        merged += len(entries)
        log.info("compacted %d files of %s into %s", len(entries), table_name, relative)
    return merged
