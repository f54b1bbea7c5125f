"""A DuckLake catalog of the capture data, with Homer's table names.

    ATTACH 'ducklake:sqlite:<file>' AS lake (DATA_PATH '<dir>');
    SELECT * FROM lake.hep_proto_1_call AT (VERSION => 3);

Each hyena partition's new rows become one DuckLake transaction that adds them and records,
in `hepserver_watermarks`, how many rows of that partition the lake holds (per writer id). So
each partition exported is one snapshot, time travel works, and a crash at any point neither
loses nor repeats rows: the next export continues from the watermarks of the last committed
snapshot. The rows are written as Parquet by pyarrow (the exporter's writer, twice as fast
as DuckDB's INSERT into the lake), fsynced, and with an s3:// DATA_PATH uploaded (boto3,
retried as the object store's uploads are), then registered in the transaction with
`ducklake_add_data_files`. A crash before the commit leaves a file no snapshot lists, which
`retain` deletes (`ducklake_delete_orphaned_files`, for files older than a day, so another
node's file waiting for its commit is never touched). Other remote DATA_PATHs (gs://, ...)
are written by DuckLake itself (`INSERT`). DuckLake compacts
(`ducklake_merge_adjacent_files`) and expires old snapshots itself.

Several capture nodes may share one lake (a PostgreSQL catalog and an s3:// data path): every
row carries the `writer_id` of the node that captured it, watermarks are per writer, retention
deletes only the node's own rows, and a transaction that loses a commit race to another node
is run again (DuckLake's concurrency is optimistic). Tables gain the columns a newer schema
adds (ALTER TABLE ADD COLUMN), so nodes of different versions can share a lake.

The DuckDB extensions come from PyPI packages (duckdb-extension-ducklake, -sqlite-scanner,
-postgres-scanner), loaded from their files: no download at run time.
"""
from __future__ import annotations

import glob
import importlib
import logging
import os
import random
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa

from hepserver.counters import Counters
from hepserver.export.exporter import ExportSettings, hep_types, prepare_pieces, write_parquet
from hepserver.export.objectstore import ObjectStore, ObjectStoreSettings

__all__ = ["load_extension", "DuckLake", "attach", "s3_secret", "catalog_url"]

log = logging.getLogger("hepserver.ducklake")
_PACKAGES = {"ducklake": "duckdb_extension_ducklake", "sqlite_scanner":
             "duckdb_extension_sqlite_scanner", "postgres_scanner":
             "duckdb_extension_postgres_scanner", "httpfs": "duckdb_extension_httpfs"}


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD a DuckDB extension from its PyPI package (offline)."""
    try:
        module = importlib.import_module(_PACKAGES[name])
    except ImportError as exc:
        raise RuntimeError(f"the DuckDB extension {name} is not installed: pip install "
                           f"{_PACKAGES[name].replace('_', '-')}=={duckdb.__version__}") from exc
    pattern = os.path.join(os.path.dirname(module.__file__), "extensions", "*",
                           f"{name}.duckdb_extension")
    found = sorted(glob.glob(pattern))
    if not found:
        raise RuntimeError(f"no {name}.duckdb_extension in {module.__file__}")
    con.execute(f"LOAD '{found[-1]}'")


def attach(con: duckdb.DuckDBPyConnection, catalog: str, data_path: str, alias: str,
           s3_endpoint: str | None = None, read_only: bool = False) -> None:
    """ATTACH a DuckLake to a connection, with what its catalog and data path need."""
    load_extension(con, "ducklake")
    load_extension(con, "postgres_scanner" if "postgres:" in catalog else "sqlite_scanner")
    if data_path.startswith("s3://"):
        load_extension(con, "httpfs")
        s3_secret(con, s3_endpoint)
    elif not read_only:
        Path(data_path).mkdir(parents=True, exist_ok=True)
    mode = ", READ_ONLY" if read_only else ""
    con.execute(f"ATTACH '{catalog}' AS {alias} (DATA_PATH '{data_path}'{mode})")


def s3_secret(con: duckdb.DuckDBPyConnection, endpoint: str | None = None) -> None:
    """DuckDB credentials for S3 from the usual AWS environment variables."""
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL")
    options = [f"KEY_ID '{os.environ.get('AWS_ACCESS_KEY_ID', '')}'",
               f"SECRET '{os.environ.get('AWS_SECRET_ACCESS_KEY', '')}'",
               f"REGION '{os.environ.get('AWS_DEFAULT_REGION', 'us-east-1')}'"]
    if endpoint:
        host = endpoint.split("://", 1)[-1].rstrip("/")
        options += [f"ENDPOINT '{host}'", "URL_STYLE 'path'",
                    f"USE_SSL {'true' if endpoint.startswith('https') else 'false'}"]
    con.execute(f"CREATE OR REPLACE SECRET hepserver_s3 (TYPE s3, {', '.join(options)})")


def catalog_url(spec: str) -> str:
    """`sqlite:<file>` (a path alone means SQLite) or `postgres:<libpq string>`."""
    if spec.startswith(("sqlite:", "postgres:")):
        return f"ducklake:{spec}"
    return f"ducklake:sqlite:{spec}"


class DuckLake:
    def __init__(self, catalog: str, data_path: str | Path, writer_id: str,
                 alias: str = "lake", s3_endpoint: str | None = None,
                 read_only: bool = False, counters: Counters | None = None) -> None:
        self.catalog = catalog_url(catalog)
        self.data_path = str(data_path).rstrip("/") + "/"
        self.writer_id = writer_id
        self.alias = alias
        self._lock = threading.Lock()
        self.con = duckdb.connect()
        # nodes starting together race to create a new lake's catalog: the losers try again
        self._retrying(lambda: attach(self.con, self.catalog, self.data_path, alias,
                                      s3_endpoint, read_only))
        self._columns: dict[str, set[str]] = {}  # tables known to have these columns
        # files written by pyarrow and added (see above): on disk or uploaded; else INSERT
        self._files = None if "://" in self.data_path and not self._s3 else \
            ExportSettings(Path(self.data_path), writer_id)
        self._store: ObjectStore | None = None
        self._spool: tempfile.TemporaryDirectory | None = None
        if self._s3 and not read_only:
            bucket, _, prefix = self.data_path[len("s3://"):].partition("/")
            self._store = ObjectStore(ObjectStoreSettings(bucket, prefix, s3_endpoint), counters)
            self._spool = tempfile.TemporaryDirectory(prefix="hepserver-lake-")
        if not read_only:
            self._retrying(lambda: self.con.execute(
                f"CREATE TABLE IF NOT EXISTS {alias}.hepserver_watermarks (writer_id VARCHAR, "
                "partition_id VARCHAR, hep_type INTEGER, row_count UBIGINT)"))
            # zstd like the exports: half the bytes of DuckDB's default for ~20 % more time
            self._retrying(lambda: self.con.execute(
                f"CALL {alias}.set_option('parquet_compression', 'zstd')"))

    def _retrying(self, work, attempts: int = 20):
        """Run a lake transaction again when another node committed a conflicting one first
        (DuckLake's optimistic concurrency: several capture nodes share one catalog)."""
        for attempt in range(attempts):
            try:
                return work()
            except duckdb.Error as exc:
                text = str(exc).lower()
                if attempt == attempts - 1 or not any(
                        word in text for word in ("conflict", "already exists", "duplicate",
                                                  "retry", "concurrent", "serializ")):
                    raise
                try:
                    self.con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                time.sleep(0.05 * (attempt + 1) * (0.5 + random.random()))

    def watermarks(self) -> dict[str, int]:
        rows = self.con.execute(
            f"SELECT partition_id, max(row_count) FROM {self.alias}.hepserver_watermarks "
            "WHERE writer_id = ? GROUP BY partition_id", [self.writer_id]).fetchall()
        return {pid: int(count) for pid, count in rows}

    def export(self, db, everything: bool = False) -> int:
        """Add to the lake what it lacks of hyena's partitions; one snapshot per partition
        exported. With a local data path, a partition's files are written on a second
        thread while the next partition is read (pyarrow releases the GIL)."""
        with self._lock:
            done = self.watermarks()
            listed = {t: db.partitions(t) for t in hep_types(db)}
            db.flush()  # export only rows a crash cannot take back
            due = [(hep_type, part, done.get(str(part.id), 0))
                   for hep_type, parts in listed.items() for part in parts]
            due = [(t, part, start) for t, part, start in due
                   if start < part.rows and (part.sealed or everything)]
            total = 0
            with ThreadPoolExecutor(1, thread_name_prefix="hepserver-lake") as writer:
                pending = None
                for hep_type, part, start in due:
                    count, pieces = prepare_pieces(db, hep_type, part, start)
                    pieces = self._prepared(pieces)
                    files = writer.submit(self._write_all, pieces) if self._files else None
                    if pending is not None:
                        self._commit(*pending)
                    pending = (hep_type, str(part.id), start + count, pieces, files)
                    total += count
                if pending is not None:
                    self._commit(*pending)
            return total

    def _prepared(self, pieces: list[tuple[str, pa.Table]]) -> list[tuple[str, pa.Table]]:
        """The pieces with their writer_id column, their tables made to hold them."""
        pieces = [(name, piece.append_column(
            "writer_id", pa.repeat(pa.scalar(self.writer_id), piece.num_rows)))
            for name, piece in pieces]
        for name, piece in pieces:  # tables first, in their own commits (nodes race here)
            if not set(piece.schema.names) <= self._columns.get(name, set()):
                self._retrying(lambda: self._ensure_table(name, piece.schema))
        return pieces

    def _write_all(self, pieces: list[tuple[str, pa.Table]]) -> list[tuple[str, str]]:
        return [self._write(name, piece) for name, piece in pieces]

    def _commit(self, hep_type: int, partition_id: str, watermark: int,
                pieces: list[tuple[str, pa.Table]], written: Future | None) -> None:
        """One transaction: the partition's rows (its files, or an INSERT) and its watermark."""
        con = self.con
        files = written.result() if written is not None else []

        def commit() -> None:
            con.execute("BEGIN")
            try:
                for name, path in files:
                    con.execute(f"CALL ducklake_add_data_files('{self.alias}', '{name}', ?, "
                                "allow_missing => true)", [path])
                for name, piece in pieces if written is None else ():
                    con.register("piece", piece)
                    con.execute(f"INSERT INTO {self.alias}.{name} BY NAME SELECT * FROM piece")
                    con.unregister("piece")
                con.execute(f"INSERT INTO {self.alias}.hepserver_watermarks VALUES (?, ?, ?, ?)",
                            [self.writer_id, partition_id, hep_type, watermark])
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                raise

        self._retrying(commit)

    @property
    def _s3(self) -> bool:
        return self.data_path.startswith("s3://")

    def _write(self, name: str, piece: pa.Table) -> tuple[str, str]:
        """Write one piece where DuckLake keeps the table's files (fsynced, or uploaded);
        (table, path or URL)."""
        relative = f"main/{name}/hepserver-{uuid.uuid4().hex}.parquet"
        if self._store is None:
            path = Path(self.data_path) / relative
            write_parquet(piece, path, self._files)
            return name, str(path)
        spooled = Path(self._spool.name) / relative.replace("/", "-")
        try:
            write_parquet(piece, spooled, self._files)
            self._store.put_file(spooled, self._store.settings.key(relative))
        finally:
            spooled.unlink(missing_ok=True)
        return name, self._store.settings.url(relative)

    def _ensure_table(self, name: str, schema: pa.Schema) -> None:
        """Create a Homer table shaped like `schema`, or add the columns it lacks."""
        con = self.con
        con.register("shape", schema.empty_table())
        try:
            con.execute(f"CREATE TABLE IF NOT EXISTS {self.alias}.{name} AS "
                        "SELECT * FROM shape")
            have = {r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = ? "
                "AND table_name = ?", [self.alias, name]).fetchall()}
            for column, kind, *_ in con.execute("DESCRIBE SELECT * FROM shape").fetchall():
                if column not in have:
                    con.execute(f'ALTER TABLE {self.alias}.{name} ADD COLUMN "{column}" {kind}')
                    have.add(column)
            self._columns[name] = have
        finally:
            con.unregister("shape")

    def tables(self) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
            "AND table_name LIKE 'hep_proto_%' ORDER BY 1", [self.alias]).fetchall()
        return [r[0] for r in rows]

    def compact(self) -> None:
        with self._lock:
            self._retrying(lambda: self.con.execute(
                f"CALL ducklake_merge_adjacent_files('{self.alias}')"))

    def retain(self, cutoff_us: int, keep_snapshots_days: float = 7.0) -> int:
        """Delete this node's rows older than the cutoff, expire old snapshots, remove files
        no snapshot needs any more; returns the rows deleted."""
        with self._lock:
            deleted = 0
            for name in self.tables():
                deleted += self._retrying(lambda: self.con.execute(
                    f"DELETE FROM {self.alias}.{name} WHERE writer_id = ? "
                    "AND timestamp < make_timestamp(?)",
                    [self.writer_id, cutoff_us]).fetchone()[0])
            self._retrying(lambda: self.con.execute(
                f"CALL ducklake_expire_snapshots('{self.alias}', older_than => "
                f"now() - INTERVAL '{float(keep_snapshots_days)} days')"))
            self._retrying(lambda: self.con.execute(
                f"CALL ducklake_cleanup_old_files('{self.alias}', cleanup_all => true)"))
            if self._files:  # files of exports a crash cut short (see above)
                self._retrying(lambda: self.con.execute(
                    f"CALL ducklake_delete_orphaned_files('{self.alias}', "
                    "older_than => now() - INTERVAL 1 DAY)"))
            return deleted

    def close(self) -> None:
        self.con.close()
        if self._spool is not None:
            self._spool.cleanup()
