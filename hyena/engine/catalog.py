"""The schema of the hypertable (columns and indexes) and the catalog.data file that commits it.

catalog.data is the single commit point of a data directory: besides columns, indexes and the
fixed geometry it records, per partition group, how many partitions and how many rows of the
head partition are committed. Writing it (atomically) is what makes a flush durable.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hyena.errors import (ColumnExistsError, ColumnNameError, IndexExistsError,
                          UnknownColumnError)
from hyena.storage import format as fmt
from hyena.storage.fs import FileOps
from hyena.storage.metafile import read_meta, write_meta
from hyena.types import SOURCE_COLUMN, TS_COLUMN, Column, ColumnType

__all__ = ["Schema", "INDEX_KINDS", "read_catalog", "write_catalog"]

INDEX_KINDS = ("bloom",)
_MAX_NAME_BYTES = 1024


class Schema:
    """Columns by id and name; thread safe for concurrent readers and one writer."""

    def __init__(self, columns: list[Column] | None = None,
                 indexes: dict[int, set[str]] | None = None) -> None:
        self._lock = threading.Lock()
        base = [Column(TS_COLUMN, "ts", ColumnType.U64_DENSE),
                Column(SOURCE_COLUMN, "source", ColumnType.U32_DENSE)]
        self._by_id: dict[int, Column] = {c.id: c for c in (columns or base)}
        self._by_name: dict[str, Column] = {c.name: c for c in self._by_id.values()}
        self.indexes: dict[int, set[str]] = indexes or {}

    @property
    def columns(self) -> list[Column]:
        return sorted(self._by_id.values(), key=lambda c: c.id)

    def resolve(self, key: Any) -> Column:
        """A column by id (int) or name (str)."""
        if isinstance(key, Column):
            key = key.id
        if isinstance(key, str):
            column = self._by_name.get(key)
        elif isinstance(key, int) and not isinstance(key, bool):
            column = self._by_id.get(key)
        else:
            raise UnknownColumnError("a column is named by its id or name", key=repr(key))
        if column is None:
            raise UnknownColumnError("no such column", column=key)
        return column

    def add(self, name: str, ctype: ColumnType | str | int) -> Column:
        if not isinstance(name, str) or not name.strip():
            raise ColumnNameError("column name cannot be empty")
        if len(name.encode()) > _MAX_NAME_BYTES or any(ord(ch) < 32 for ch in name):
            raise ColumnNameError("column name too long or has control characters",
                                  name=name[:40])
        ctype = ColumnType.parse(ctype)
        with self._lock:
            if name in self._by_name:
                raise ColumnExistsError("column name already exists", name=name)
            column = Column(max(self._by_id) + 1, name, ctype)
            self._by_id[column.id] = column
            self._by_name[name] = column
        return column

    def add_index(self, key: Any, kind: str) -> Column:
        column = self.resolve(key)
        if kind not in INDEX_KINDS:
            raise ValueError(f"unknown index kind {kind!r}; known: {', '.join(INDEX_KINDS)}")
        with self._lock:
            kinds = self.indexes.setdefault(column.id, set())
            if kind in kinds:
                raise IndexExistsError("index already exists", column=column.name, kind=kind)
            kinds.add(kind)
        return column

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "columns": [{"id": c.id, "name": c.name, "type": int(c.type)}
                            for c in sorted(self._by_id.values(), key=lambda c: c.id)],
                "indexes": [{"column": cid, "kind": kind}
                            for cid, kinds in sorted(self.indexes.items())
                            for kind in sorted(kinds)],
            }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Schema":
        columns = [Column(c["id"], c["name"], ColumnType(c["type"])) for c in data["columns"]]
        indexes: dict[int, set[str]] = {}
        for entry in data.get("indexes", []):
            indexes.setdefault(entry["column"], set()).add(entry["kind"])
        return cls(columns, indexes)


def write_catalog(fs: FileOps, root: Path, schema: Schema, geometry: dict[str, int],
                  groups: list[dict[str, Any]], sequence: int) -> None:
    payload = {"geometry": geometry, "commit": sequence, "groups": groups, **schema.to_json()}
    write_meta(fs, root / fmt.CATALOG_FILE, fmt.CATALOG_MAGIC, payload)


def read_catalog(fs: FileOps, root: Path) -> dict[str, Any]:
    return read_meta(fs, root / fmt.CATALOG_FILE, fmt.CATALOG_MAGIC)
