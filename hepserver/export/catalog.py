"""The exported files of one HEP type and their metadata.json (HEPop's layout).

    <export dir>/<writer id>/dbs/hep-0/hep_<type>-0/metadata.json
    <export dir>/<writer id>/dbs/hep-0/hep_<type>-0/<YYYY-MM-DD>/<HH-MM>/<file id>.parquet

metadata.json is the commit point. It lists every file (path relative to the type directory,
Homer table, size, rows, 10-minute chunk time and min/max time in nanoseconds, as HEPop), the
totals, how many rows of each hyena partition are exported, and the file operations a commit
promised but may not have finished: `pending` renames (a file is written under `.tmp`, synced,
committed, then renamed to its final name) and `deleting` (files a compaction or retention
replaced). Opening a catalog finishes those, and deletes files it does not list (the work of an
export that a crash cut off), so an export interrupted anywhere resumes without losing or
repeating a row.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["TypeCatalog", "FileEntry", "type_directory", "NS_PER_US", "CHUNK_NS"]

NS_PER_US = 1000
CHUNK_NS = 600 * 1_000_000_000  # 10 minutes, HEPop's file window
FORMAT = 1


def type_directory(root: Path, writer_id: str, hep_type: int) -> Path:
    return root / writer_id / "dbs" / "hep-0" / f"hep_{hep_type}-0"


@dataclass
class FileEntry:
    id: int
    path: str  # relative to the type directory
    table: str
    size_bytes: int
    row_count: int
    chunk_time: int  # ns, start of the 10-minute window
    min_time: int  # ns
    max_time: int  # ns
    level: str = "10m"  # "10m" as exported, "1h" once compacted

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TypeCatalog:
    directory: Path
    writer_id: str
    hep_type: int
    next_file_id: int = 0
    files: list[FileEntry] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)  # hyena partition -> rows done
    pending: list[list[str]] = field(default_factory=list)  # [tmp, final] renames owed
    deleting: list[str] = field(default_factory=list)  # files to remove

    @property
    def path(self) -> Path:
        return self.directory / "metadata.json"

    @classmethod
    def open(cls, root: Path, writer_id: str, hep_type: int) -> "TypeCatalog":
        directory = type_directory(root, writer_id, hep_type)
        catalog = cls(directory, writer_id, hep_type)
        if catalog.path.exists():
            data = json.loads(catalog.path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"{catalog.path}: unknown format {data.get('format')!r}")
            catalog.next_file_id = data["next_file_id"]
            catalog.files = [FileEntry(**f) for f in data["files"]]
            catalog.partitions = dict(data["partitions"])
            catalog.pending = [list(p) for p in data.get("pending", [])]
            catalog.deleting = list(data.get("deleting", []))
        catalog.finish()
        catalog.remove_strays()
        return catalog

    @classmethod
    def open_readonly(cls, root: Path, writer_id: str, hep_type: int) -> "TypeCatalog":
        """The committed listing, without finishing or cleaning anything (for readers: an
        exporter may be working in the directory). A committed file whose rename is still
        owed is listed under its `.tmp` name, which is complete and synced; a reader that
        finds it gone has raced the rename and reads again."""
        directory = type_directory(root, writer_id, hep_type)
        catalog = cls(directory, writer_id, hep_type)
        try:
            data = json.loads(catalog.path.read_text())
        except FileNotFoundError:
            return catalog
        owed = {final: tmp for tmp, final in data.get("pending", [])}
        catalog.files = [FileEntry(**f) for f in data["files"]]
        for entry in catalog.files:
            if entry.path in owed and not (directory / entry.path).exists():
                entry.path = owed[entry.path]
        catalog.partitions = dict(data["partitions"])
        return catalog

    # --- commit ----------------------------------------------------------------------------

    def save(self) -> None:
        """Replace metadata.json atomically and durably."""
        self.directory.mkdir(parents=True, exist_ok=True)
        files = self.files
        body = {
            "format": FORMAT, "writer_id": self.writer_id, "type": self.hep_type,
            "next_file_id": self.next_file_id,
            "parquet_size_bytes": sum(f.size_bytes for f in files),
            "row_count": sum(f.row_count for f in files),
            "min_time": min((f.min_time for f in files), default=None),
            "max_time": max((f.max_time for f in files), default=None),
            "files": [f.to_json() for f in files], "partitions": self.partitions,
            "pending": self.pending, "deleting": self.deleting,
        }
        tmp = self.path.with_name("metadata.json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(body, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, self.path)
        sync_directory(self.directory)

    def finish(self) -> None:
        """Do the renames and deletions the last commit promised (idempotent)."""
        if not self.pending and not self.deleting:
            return
        touched = set()
        for tmp, final in self.pending:
            source, target = self.directory / tmp, self.directory / final
            if source.exists():
                os.rename(source, target)
                touched.add(target.parent)
            elif not target.exists():
                raise FileNotFoundError(f"exported file lost before its rename: {target}")
        for relative in self.deleting:
            try:
                (self.directory / relative).unlink()
            except FileNotFoundError:
                pass
            touched.add((self.directory / relative).parent)
        for directory in touched:
            if directory.exists():
                sync_directory(directory)
        emptied = [(self.directory / relative).parent for relative in self.deleting]
        self.pending, self.deleting = [], []
        self.save()
        for directory in emptied:  # only where files went: a full walk grows with the files
            self._remove_if_empty(directory)

    def remove_strays(self) -> None:
        """Files no commit lists: the output of an export or compaction cut off by a crash."""
        if not self.directory.exists():
            return
        listed = {f.path for f in self.files}
        for path in self.directory.rglob("*"):
            if path.is_file() and path.name.endswith((".parquet", ".tmp", ".download")) and \
                    str(path.relative_to(self.directory)) not in listed:
                path.unlink()
        self.remove_empty_directories()

    def _remove_if_empty(self, directory: Path) -> None:
        """Remove `directory` and its parents up to the type directory while they are empty."""
        while directory != self.directory and self.directory in directory.parents:
            try:
                directory.rmdir()
            except OSError:  # not empty, or gone already
                if directory.exists():
                    return
            directory = directory.parent

    def remove_empty_directories(self) -> None:
        if not self.directory.exists():
            return
        for path in sorted(self.directory.rglob("*"), key=lambda p: -len(p.parts)):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()

    def new_file(self, chunk_time: int, compacted: bool = False) -> tuple[int, str]:
        """(file id, path) for the next file of the window starting at chunk_time (ns)."""
        file_id = self.next_file_id
        self.next_file_id += 1
        when = datetime.fromtimestamp(chunk_time // 1_000_000_000, tz=timezone.utc)
        name = f"{'c_' if compacted else ''}{file_id:010d}.parquet"
        return file_id, f"{when:%Y-%m-%d}/{when:%H-%M}/{name}"


def sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
