"""`hyena-check`: verify a data directory without changing it.

It reads every metadata file and every committed block the way the engine would, and checks
what the engine relies on: checksums and versions, file headers, counts against file sizes,
timestamps and zone maps against the data, sparse indexes strictly increasing and in range,
string offsets ordered and inside their pool, UTF-8. Leftovers of an interrupted run (files
the next open removes) are reported as notes, not errors. It doubles as the oracle of the
crash tests.
"""
from __future__ import annotations

import argparse
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hyena.engine.catalog import Schema
from hyena.engine.partition import ColumnSnapshot, ColumnState, PartitionSnapshot, minmax
from hyena.engine.reader import column_data
from hyena.errors import HyenaError, LockedError
from hyena.kernels.validate import strictly_increasing_below, utf8_error_offset
from hyena.storage import format as fmt
from hyena.storage.block_file import read_header
from hyena.storage.fs import FileOps
from hyena.storage.lock import DirectoryLock
from hyena.storage.mapcache import MapCache
from hyena.storage.metafile import read_meta
from hyena.types import TS_COLUMN

__all__ = ["Problem", "check_directory", "main"]


@dataclass(frozen=True)
class Problem:
    severity: str  # "error": the engine would fail or return wrong data; "note": leftovers
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


def check_directory(root: Path) -> list[Problem]:
    """Every problem found under `root` (empty when the directory is sound)."""
    return list(_Checker(Path(root)).run())


class _Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.fs = FileOps()
        self.maps = MapCache(64)

    def run(self) -> Iterator[Problem]:
        path = self.root / fmt.CATALOG_FILE
        try:
            catalog = read_meta(self.fs, path, fmt.CATALOG_MAGIC)
            schema = Schema.from_json(catalog)
            block_size = catalog["geometry"]["block_size"]
        except FileNotFoundError:
            yield Problem("error", str(path), "missing")
            return
        except (HyenaError, KeyError, TypeError, ValueError) as exc:
            yield Problem("error", str(path), str(exc))
            return
        known = set()
        for record in catalog["groups"]:
            known.add(record["source"])
            yield from self._group(record, schema, block_size)
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and child.name.isdigit() and int(child.name) not in known:
                yield Problem("note", str(child), "source not in the catalog (removed at open)")
        yield from self._temp_files(self.root)

    def _group(self, record: dict[str, Any], schema: Schema, block_size: int) -> Iterator[Problem]:
        directory = self.root / str(record["source"])
        path = directory / fmt.GROUP_META_FILE
        try:
            entries = read_meta(self.fs, path, fmt.GROUP_MAGIC)["partitions"]
        except FileNotFoundError:
            yield Problem("error", str(path), "missing")
            return
        except (HyenaError, KeyError) as exc:
            yield Problem("error", str(path), str(exc))
            return
        committed = [e for e in entries if e["seq"] <= record["last_seq"]]
        head_seq = record.get("head_seq")
        if head_seq is not None and not any(e["seq"] == head_seq for e in committed):
            yield Problem("note", str(path), "the open head partition was dropped")
        for entry in committed:
            head = entry["seq"] == head_seq
            try:
                snap = self._snapshot(record, entry, schema, head)
            except (HyenaError, KeyError, ValueError, OSError) as exc:
                yield Problem("error", str(self.root / entry["path"]), str(exc))
                continue
            yield from self._partition(snap, block_size, head)
        listed = {e["path"] for e in committed}
        for quarter in _subdirs(directory):
            for week in _subdirs(quarter):
                for day in _subdirs(week):
                    for part in _subdirs(day):
                        if str(part.relative_to(self.root)) not in listed:
                            yield Problem("note", str(part),
                                          "partition not committed (removed at open)")
        yield from self._temp_files(directory)

    def _snapshot(self, record: dict[str, Any], entry: dict[str, Any], schema: Schema,
                  head: bool) -> PartitionSnapshot:
        directory = self.root / entry["path"]
        if head:
            columns = {int(k): ColumnSnapshot(schema.resolve(int(k)).type, v[0], v[1], None, None)
                       for k, v in record["head_counts"].items()}
            rows = record["head_rows"]
            return PartitionSnapshot(uuid.UUID(entry["id"]), record["source"], entry["seq"],
                                     directory, rows, 0, 0, columns, False)
        meta = read_meta(self.fs, directory / fmt.PARTITION_META_FILE, fmt.PARTITION_MAGIC)
        for key in ("id", "rows", "min_ts", "max_ts"):
            if meta[key] != entry[key]:
                raise ValueError(f"meta.data and pgmeta.data disagree on {key}: "
                                 f"{meta[key]} != {entry[key]}")
        columns = {int(k): ColumnState.from_json(v).snapshot() for k, v in meta["columns"].items()}
        return PartitionSnapshot(uuid.UUID(meta["id"]), record["source"], meta["seq"], directory,
                                 meta["rows"], meta["min_ts"], meta["max_ts"], columns, True)

    def _partition(self, snap: PartitionSnapshot, block_size: int,
                   head: bool) -> Iterator[Problem]:
        if TS_COLUMN not in snap.columns or snap.columns[TS_COLUMN].count != snap.rows:
            yield Problem("error", str(snap.directory), "timestamps do not cover every row")
        for cid, col in sorted(snap.columns.items()):
            try:
                yield from self._column(snap, cid, col, block_size, head)
            except (HyenaError, OSError, ValueError) as exc:
                yield Problem("error", str(snap.directory / fmt.block_file(cid)), str(exc))

    def _column(self, snap: PartitionSnapshot, cid: int, col: ColumnSnapshot,
                block_size: int, head: bool) -> Iterator[Problem]:
        where = str(snap.directory / fmt.block_file(cid))
        names = [fmt.block_file(cid)] + ([fmt.index_file(cid)] if col.type.is_sparse else []) \
            + ([fmt.pool_file(cid)] if col.type.is_string else [])
        for name in names:
            with open(snap.directory / name, "rb") as fh:
                header = read_header(fh.read(fmt.FILE_HEADER_SIZE), snap.directory / name)
            if header.column_id != cid or header.column_type != int(col.type) \
                    or header.partition_id != snap.id:
                yield Problem("error", str(snap.directory / name),
                              "header names another column, type or partition")
        data = column_data(snap, cid, self.maps)
        if data is None:
            return
        if not col.type.is_sparse and col.count != snap.rows:
            yield Problem("error", where, f"dense column has {col.count} values for "
                                          f"{snap.rows} rows")
        if data.index is not None:
            bad = strictly_increasing_below(data.index.astype(np.int64), snap.rows)
            if bad >= 0:
                yield Problem("error", where, f"sparse index not increasing or out of range "
                                              f"at entry {bad}")
        if col.type.is_string:
            offsets = data.values.astype(np.int64)
            if offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != col.pool_len:
                yield Problem("error", where, "string offsets out of order or past the pool")
            elif utf8_error_offset(data.pool) >= 0:
                yield Problem("error", where, "string pool is not valid UTF-8")
        elif not head and col.vmin is not None:
            lo, hi = minmax(data.values, col.type)
            if (lo, hi) != (col.vmin, col.vmax):
                yield Problem("error", where, f"zone map [{col.vmin}, {col.vmax}] differs from "
                                              f"the data [{lo}, {hi}]")
        if cid == TS_COLUMN and not head and data.count:
            lo, hi = int(data.values.min()), int(data.values.max())
            if (lo, hi) != (snap.min_ts, snap.max_ts):
                yield Problem("error", where, "partition time range differs from its timestamps")

    def _temp_files(self, directory: Path) -> Iterator[Problem]:
        for tmp in sorted(directory.glob("*" + fmt.TEMP_SUFFIX)):
            yield Problem("note", str(tmp), "interrupted metadata write (removed at open)")


def _subdirs(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hyena-check",
        description="Verify a hyena data directory (read only). Exit status 0: no errors; "
                    "1: errors found; 2: could not check.")
    parser.add_argument("directory", type=Path, help="the data directory")
    parser.add_argument("--force", action="store_true",
                        help="check even while a writer has the directory open")
    args = parser.parse_args(argv)
    lock = DirectoryLock(args.directory)
    try:
        lock.acquire()
    except LockedError as exc:
        if not args.force:
            print(f"hyena-check: {exc} (stop it, or use --force)", file=sys.stderr)
            return 2
    try:
        problems = check_directory(args.directory)
    finally:
        lock.release()
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    print(f"hyena-check: {errors} error(s), {len(problems) - errors} note(s) in {args.directory}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
