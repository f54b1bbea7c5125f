"""Bring a data directory back to its last commit when it is opened.

catalog.data says, per source, up to which partition (by creation number) and how many rows of
the open head are committed. Everything beyond that was written after the last commit (or by
an append that a crash cut short) and is discarded here: partitions created later, block files
of the head that the commit does not name, source directories the catalog does not know, and
temp files of interrupted metadata writes. Nothing a commit names is ever changed.
"""
from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hyena.engine.catalog import Schema
from hyena.engine.group import PartitionGroup
from hyena.engine.partition import ColumnState, Geometry, Partition, minmax
from hyena.errors import CorruptFileError
from hyena.storage import format as fmt
from hyena.storage.block_file import BlockFile
from hyena.storage.fs import FileOps
from hyena.storage.metafile import read_meta
from hyena.types import TS_COLUMN

__all__ = ["load_groups", "remove_unknown_sources"]

log = logging.getLogger("hyena.recovery")
_BLOCK_NAME = re.compile(r"^block_(\d+)\.(data|index|pool|bloom)$")


def load_groups(fs: FileOps, root: Path, schema: Schema, geometry: Geometry,
                records: list[dict[str, Any]], preallocate: bool,
                on_seal: Callable[[Partition], None],
                next_seq: Callable[[], int]) -> dict[int, PartitionGroup]:
    groups = {}
    for record in records:
        group = PartitionGroup(record["source"], root, fs, geometry, preallocate, on_seal,
                               next_seq)
        _load_group(group, record, schema)
        groups[group.source] = group
    return groups


def _load_group(group: PartitionGroup, record: dict[str, Any], schema: Schema) -> None:
    """Committed partitions are those of pgmeta.data created no later than the catalog's
    `last_seq`; the one numbered `head_seq` (if any) is the open head. Partitions dropped by
    retention are simply absent from pgmeta.data."""
    last_seq, head_seq = record["last_seq"], record.get("head_seq")
    path = group.directory / fmt.GROUP_META_FILE
    _remove_temp_files(group.fs, group.directory)
    try:
        entries = read_meta(group.fs, path, fmt.GROUP_MAGIC)["partitions"]
    except FileNotFoundError:
        entries = []
    committed = [e for e in entries if e["seq"] <= last_seq]
    for entry in committed:
        if entry["seq"] == head_seq:
            group.partitions.append(_load_head(group, entry, record, schema))
        else:
            group.partitions.append(Partition(
                uuid.UUID(entry["id"]), group.source, entry["path"], group.root, group.fs,
                group.geometry, seq=entry["seq"], rows=entry["rows"], min_ts=entry["min_ts"],
                max_ts=entry["max_ts"], sealed=True))
    if head_seq is not None and not any(e["seq"] == head_seq for e in committed):
        log.warning("head partition %s of source %s was dropped before the crash", head_seq,
                    group.source)
    kept = {p.relpath for p in group.partitions}
    for directory in _partition_directories(group.directory):
        relpath = str(directory.relative_to(group.root))
        if relpath not in kept:
            log.info("discarding uncommitted or dropped partition %s", relpath)
            group.fs.remove_tree(directory)
    head_listed_sealed = any(e["seq"] == head_seq and e["sealed"] for e in committed)
    if len(entries) != len(committed) or head_listed_sealed:
        group.write_group_meta()  # forget what the commit does not name
    else:
        group.mark_listed()


def _load_head(group: PartitionGroup, entry: dict[str, Any], record: dict[str, Any],
               schema: Schema) -> Partition:
    """The head keeps exactly the rows and column values the catalog committed; it takes
    appends again (a full head is sealed by the next append that does not fit)."""
    part = Partition(uuid.UUID(entry["id"]), group.source, entry["path"], group.root, group.fs,
                     group.geometry, seq=entry["seq"], rows=record["head_rows"], _columns={})
    directory = part.directory
    counts = {int(k): v for k, v in record["head_counts"].items()}
    _remove_temp_files(group.fs, directory)
    for name in sorted(p.name for p in directory.iterdir()) if directory.exists() else []:
        match = _BLOCK_NAME.match(name)
        if match and int(match.group(1)) not in counts:
            group.fs.unlink(directory / name)  # created after the last commit
    for cid, (count, pool_len) in counts.items():
        ctype = schema.resolve(cid).type
        state = ColumnState(ctype, count, pool_len)
        used = (count + 1) * 4 if ctype.is_string else count * ctype.width
        state.values = BlockFile.open(group.fs, directory / fmt.block_file(cid),
                                      group.preallocate, used)
        if ctype.is_sparse:
            state.index = BlockFile.open(group.fs, directory / fmt.index_file(cid),
                                         group.preallocate, count * 4)
        if ctype.is_string:
            state.pool = BlockFile.open(group.fs, directory / fmt.pool_file(cid),
                                        group.preallocate, pool_len)
        elif count:
            values = np.fromfile(state.values.path, dtype=ctype.dtype, count=count,
                                 offset=fmt.FILE_HEADER_SIZE)
            if len(values) != count:
                raise CorruptFileError(state.values.path, "block shorter than committed",
                                       count=count, found=len(values))
            state.vmin, state.vmax = minmax(values, ctype)
        part.columns[cid] = state
    ts = part.columns.get(TS_COLUMN)
    if ts is None or ts.count != part.rows:
        raise CorruptFileError(directory, "head partition has no timestamps for its rows",
                               rows=part.rows)
    part.min_ts, part.max_ts = ts.vmin, ts.vmax
    part.dense = frozenset(c for c in counts if c != TS_COLUMN
                           and not schema.resolve(c).type.is_sparse)
    return part


def _partition_directories(group_dir: Path) -> list[Path]:
    """Every `<year>-<quarter>/<week>/<day>/<uuid>` directory under a group directory."""
    found = []
    for quarter in _subdirs(group_dir):
        for week in _subdirs(quarter):
            for day in _subdirs(week):
                for part in _subdirs(day):
                    try:
                        uuid.UUID(part.name)
                    except ValueError:
                        continue
                    found.append(part)
    return found


def _subdirs(directory: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _remove_temp_files(fs: FileOps, directory: Path) -> None:
    if directory.exists():
        for tmp in directory.glob("*" + fmt.TEMP_SUFFIX):
            fs.unlink(tmp)


def remove_unknown_sources(fs: FileOps, root: Path, known: set[int]) -> None:
    """Source directories created by appends that were never committed."""
    for child in root.iterdir():
        if child.is_dir() and child.name.isdigit() and int(child.name) not in known:
            log.info("discarding uncommitted source directory %s", child)
            fs.remove_tree(child)
