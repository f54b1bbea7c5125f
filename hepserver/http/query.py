"""Read-only SQL over all capture data, hot (hyena) and exported (Parquet), with DuckDB.

A query names tables as HEPop does (`hep_<type>`) or as Homer does (`hep_proto_1_call`,
`hep_proto_1_registration`, `hep_proto_1_default`, `hep_proto_<type>_default`), plus any
measurement written through /write. For each table it references, the engine builds a view
over the time window the query asks for (HEPop's rule: conditions on `time` or `timestamp`
with literal values; without one, the last 10 minutes):

- exported rows: the Parquet files whose [min, max] time meets the window, from every node's
  metadata.json under the export directory;
- hot rows: hyena partitions meeting the window, from the first row not yet exported, scanned
  by hyena with the window (and simple `column = value` conditions) pushed down, handed to
  DuckDB as Arrow without copying the bulk.

Each row is in exactly one of the two. DuckDB runs sandboxed: it may read the export directory
and nothing else, cannot write, attach or install; statements other than one SELECT are
refused; a query running past its timeout is interrupted.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hepserver.export.catalog import TypeCatalog
from hepserver.export.ducklake import attach, catalog_url, load_extension, s3_secret
from hepserver.export.table import export_table

__all__ = ["QueryEngine", "QueryError", "time_window"]

DEFAULT_WINDOW_US = 600 * 1_000_000
_TABLE = re.compile(r"\bhep_proto_(\d+)_(call|registration|default)\b|\bhep_(\d+)\b", re.I)
_CONDITION = re.compile(
    r"\b(?:time|timestamp)\s*(>=|<=|=|>|<)\s*(?:TIMESTAMPTZ|TIMESTAMP)?\s*'([^']+)'", re.I)
_NUMERIC = re.compile(r"\b(?:time|timestamp)\s*(>=|<=|=|>|<)\s*(\d{9,19})\b", re.I)
_BETWEEN = re.compile(
    r"\b(?:time|timestamp)\s+BETWEEN\s+(?:TIMESTAMPTZ|TIMESTAMP)?\s*'([^']+)'\s+AND\s+"
    r"(?:TIMESTAMPTZ|TIMESTAMP)?\s*'([^']+)'", re.I)
_EQUALS = re.compile(r"\b([a-z_][a-z0-9_]*)\s*=\s*'((?:[^']|'')*)'", re.I)


class QueryError(Exception):
    """A query the API refuses or DuckDB rejects; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _instant_us(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        value = int(text)
        digits = len(text)
        return value * 1_000_000 if digits <= 10 else value * 1000 if digits <= 13 else \
            value if digits <= 16 else value // 1000  # seconds, ms, µs or ns
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise QueryError(f"cannot read the time {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1_000_000)


def time_window(sql: str, now_us: int, default_us: int = DEFAULT_WINDOW_US) -> tuple[int, int]:
    """[start, end) in µs from the query's conditions on time/timestamp, else the last
    `default_us` before now."""
    low, high = None, None
    bounds = [(op, _instant_us(value)) for op, value in _CONDITION.findall(sql)]
    bounds += [(op, _instant_us(value)) for op, value in _NUMERIC.findall(sql)]
    for first, second in _BETWEEN.findall(sql):
        bounds += [(">=", _instant_us(first)), ("<=", _instant_us(second))]
    if not bounds:
        return now_us - default_us, now_us + 1
    for op, value in bounds:
        if op in (">", ">="):
            low = value if low is None else max(low, value)
        elif op in ("<", "<="):
            high = value + 1 if high is None else min(high, value + 1)
        else:
            low = value if low is None else max(low, value)
            high = value + 1 if high is None else min(high, value + 1)
    return (0 if low is None else low), (now_us + 1 if high is None else high)


@dataclass(frozen=True)
class TableRef:
    name: str
    hep_type: int
    profile: str | None  # call / registration / default for Homer's SIP tables


def referenced_tables(sql: str) -> list[TableRef]:
    found = {}
    for match in _TABLE.finditer(sql):
        if match.group(1):
            hep_type, profile = int(match.group(1)), match.group(2).lower()
            name = f"hep_proto_{hep_type}_{profile}"
            found[name] = TableRef(name, hep_type, profile if hep_type == 1 else None)
        else:
            hep_type = int(match.group(3))
            found[f"hep_{hep_type}"] = TableRef(f"hep_{hep_type}", hep_type, None)
    return list(found.values())


class QueryEngine:
    def __init__(self, db, parquet_dir: Path, writer_id: str, timeout: float = 30.0,
                 max_rows: int = 100_000, default_window_us: int = DEFAULT_WINDOW_US,
                 measurements=None, lake: tuple[str, str] | None = None,
                 objects=None) -> None:
        """`lake`: (catalog, data path) of a shared DuckLake to read exported data from
        (every node's), instead of the Parquet files under parquet_dir. `objects`: the
        ObjectStoreSettings exports are uploaded with; files whose local copy was deleted
        after the upload are read from there."""
        self.db = db
        self.parquet_dir = Path(parquet_dir).absolute()
        self.parquet_dir.mkdir(parents=True, exist_ok=True)
        self.writer_id = writer_id
        self.timeout = timeout
        self.max_rows = max_rows
        self.default_window_us = default_window_us
        self.measurements = measurements  # LineProtocol (for /write measurements) or None
        self._duck = duckdb.connect()
        allowed = [f"{self.parquet_dir}/"]
        self.objects = objects
        if objects is not None:
            load_extension(self._duck, "httpfs")
            s3_secret(self._duck, objects.endpoint_url)
            allowed.append(objects.url(writer_id) + "/")
        self.lake = lake is not None
        if lake is not None:
            catalog, data_path = lake
            attach(self._duck, catalog_url(catalog), data_path.rstrip("/") + "/", "lake",
                   read_only=True)
            allowed.append(data_path.rstrip("/") + "/")
        self._duck.execute(f"SET allowed_directories = {allowed!r}")
        self._duck.execute("SET enable_external_access = false")
        self._duck.execute("SET lock_configuration = true")
        self._empty: dict[int, pa.Schema] = {}

    # --- entry point -----------------------------------------------------------------------

    def run(self, sql: str) -> tuple[pa.Table, bool]:
        """(result, truncated): at most max_rows rows."""
        try:
            return self._run(sql)
        except QueryError as exc:
            if "No files found" in str(exc) or "No such file" in str(exc):
                return self._run(sql)  # an export renamed or compacted a file meanwhile
            raise

    def _run(self, sql: str) -> tuple[pa.Table, bool]:
        _read_only(sql)
        now_us = time.time_ns() // 1000
        window = time_window(sql, now_us, self.default_window_us)
        con = self._duck.cursor()
        try:
            for ref in referenced_tables(sql):
                self._view(con, ref, window, sql)
            if self.measurements is not None:
                for name in self.measurements.referenced(sql):
                    self.measurements.view(con, name, window)
            timer = threading.Timer(self.timeout, con.interrupt)
            timer.start()
            try:
                reader = con.execute(sql).to_arrow_reader(65536)
                batches, rows = [], 0
                for batch in reader:
                    batches.append(batch)
                    rows += batch.num_rows
                    if rows > self.max_rows:
                        break
                table = pa.Table.from_batches(batches, schema=reader.schema)
            except duckdb.InterruptException as exc:
                raise QueryError(f"query ran longer than {self.timeout:g} s", 504) from exc
            except duckdb.Error as exc:
                raise QueryError(str(exc).split("\n")[0]) from exc
            finally:
                timer.cancel()
            truncated = table.num_rows > self.max_rows
            return table.slice(0, self.max_rows), truncated
        finally:
            con.close()

    # --- views ------------------------------------------------------------------------------

    def _view(self, con, ref: TableRef, window: tuple[int, int], sql: str) -> None:
        start, end = window
        done = self._lake_watermarks(con) if self.lake else None
        hot = self._hot(ref, start, end, _pushed_filters(sql, self.db), done)
        con.register(f"__hot_{ref.name}", hot)
        parts = [f"SELECT * FROM __hot_{ref.name}"]
        if self.lake:
            parts[:0] = [f"SELECT * FROM lake.{name}" for name in self._lake_tables(con, ref)]
        else:
            files = self._files(ref, start, end)
            if files:
                listing = ", ".join(f"'{f}'" for f in files)
                parts.insert(0, f"SELECT * FROM read_parquet([{listing}], union_by_name=true)")
        lo = datetime.fromtimestamp(start / 1e6, tz=timezone.utc).isoformat()
        hi = datetime.fromtimestamp(end / 1e6, tz=timezone.utc).isoformat()
        con.execute(f"CREATE OR REPLACE TEMP VIEW {ref.name} AS SELECT *, timestamp AS time FROM "
                    f"({' UNION ALL BY NAME '.join(parts)}) "
                    f"WHERE timestamp >= TIMESTAMPTZ '{lo}' AND timestamp < TIMESTAMPTZ '{hi}'")

    def _files(self, ref: TableRef, start_us: int, end_us: int) -> list[str]:
        """Exported files of every node meeting the window."""
        out = []
        if not self.parquet_dir.exists():
            return out
        for writer in sorted(p.name for p in self.parquet_dir.iterdir() if p.is_dir()):
            if not (self.parquet_dir / writer / "dbs" / "hep-0" /
                    f"hep_{ref.hep_type}-0" / "metadata.json").exists():
                continue
            catalog = TypeCatalog.open_readonly(self.parquet_dir, writer, ref.hep_type)
            for entry in catalog.files:
                if ref.profile is not None and entry.table != f"hep_proto_1_{ref.profile}":
                    continue
                if entry.max_time >= start_us * 1000 and entry.min_time < end_us * 1000:
                    local = catalog.directory / entry.path
                    if self.objects is not None and writer == self.writer_id and \
                            not local.exists():  # uploaded, local copy deleted
                        out.append(self.objects.url(writer, "dbs", "hep-0",
                                                    f"hep_{ref.hep_type}-0", entry.path))
                    else:
                        out.append(str(local))
        return out

    def _lake_tables(self, con, ref: TableRef) -> list[str]:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'").fetchall()]
        if ref.name.startswith("hep_proto_"):
            return [ref.name] if ref.name in names else []
        return [n for n in names if n.startswith(f"hep_proto_{ref.hep_type}_")]

    def _lake_watermarks(self, con) -> dict[str, int]:
        try:
            rows = con.execute("SELECT partition_id, max(row_count) FROM lake.hepserver_watermarks "
                               "WHERE writer_id = ? GROUP BY 1", [self.writer_id]).fetchall()
        except duckdb.CatalogException:
            return {}
        return {pid: int(n) for pid, n in rows}

    def _hot(self, ref: TableRef, start_us: int, end_us: int, filters: list,
             done: dict[str, int] | None = None) -> pa.Table:
        """Rows still only in hyena (past each partition's export watermark) in the window."""
        if done is None:
            done = {}
            if (self.parquet_dir / self.writer_id / "dbs" / "hep-0" /
                    f"hep_{ref.hep_type}-0" / "metadata.json").exists():
                done = TypeCatalog.open_readonly(self.parquet_dir, self.writer_id,
                                                 ref.hep_type).partitions
        if ref.profile in ("call", "registration"):
            filters = filters + [("sip_profile", "==", ref.profile)]
        pieces = []
        for part in self.db.partitions(ref.hep_type):
            if part.max_ts < start_us or part.min_ts >= end_us:
                continue
            exported = done.get(str(part.id), 0)
            if exported >= part.rows:
                continue
            if exported == 0:
                table = self.db.scan(partitions=[part.id], min_ts=start_us, max_ts=end_us,
                                     filters=filters or None)
            else:
                table = self.db.read_partition(part.id, exported, part.rows)
                ts = table.column("ts")
                keep = pc.and_(pc.greater_equal(ts, start_us), pc.less(ts, end_us))
                table = table.filter(keep)
                for column, _, value in filters:
                    table = table.filter(pc.equal(table.column(column), value))
            if ref.profile == "default":  # unparsed SIP counts as default, as in exports
                profile = table.column("sip_profile")
                table = table.filter(pc.or_kleene(pc.is_null(profile),
                                                  pc.equal(profile, "default")))
            if table.num_rows:
                piece = export_table(table, ref.hep_type)
                if self.lake:  # lake tables say which node captured a row
                    piece = piece.append_column("writer_id", pa.repeat(
                        pa.scalar(self.writer_id), piece.num_rows))
                pieces.append(piece)
        if not pieces:
            return self._empty_table(ref.hep_type)
        return pa.concat_tables(pieces, promote_options="permissive")

    def _empty_table(self, hep_type: int) -> pa.Table:
        if hep_type not in self._empty:
            self._empty[hep_type] = export_table(self.db.scan(max_ts=0), hep_type).schema
        return self._empty[hep_type].empty_table()


def _read_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(str(exc).split("\n")[0]) from exc
    if len(statements) != 1:
        raise QueryError("send exactly one statement")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryError(f"only SELECT queries are allowed here "
                         f"(got {statements[0].type.name}); the API is read-only", 403)


def _pushed_filters(sql: str, db) -> list[tuple[str, str, Any]]:
    """`column = 'text'` conditions on hyena string columns, handed to hyena's scan so its
    indexes work (DuckDB checks them again). Only for plain queries where such a condition
    must hold for every row: one table, one SELECT, no OR, NOT, CASE or join."""
    if len(referenced_tables(sql)) != 1 or len(re.findall(r"\bSELECT\b", sql, re.I)) != 1 \
            or re.search(r"\b(OR|NOT|CASE|JOIN|UNION|EXCEPT|INTERSECT)\b", sql, re.I):
        return []
    columns = {c.name: c for c in db.columns}
    out = []
    for name, value in _EQUALS.findall(sql):
        column = columns.get(name)
        if column is not None and column.type.is_string:
            out.append((name, "==", value.replace("''", "'")))
    return out
