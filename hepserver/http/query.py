"""Read-only SQL over all capture data, hot (hyena) and exported (Parquet), with DuckDB.

A query names tables as HEPop does (`hep_<type>`) or as Homer does (`hep_proto_1_call`,
`hep_proto_1_registration`, `hep_proto_1_default`, `hep_proto_<type>_default`), plus any
measurement written through /write. For each table it references, the engine builds a view
over the time window the query asks for (HEPop's rule: conditions on `time` or `timestamp`
with literal values; without one, the last 10 minutes):

- exported rows: the Parquet files whose [min, max] time meets the window, from every node's
  metadata.json under the export directory;
- hot rows: hyena partitions meeting the window, from the first row not yet exported, scanned
  by hyena with the window and the query's plain conditions pushed down (`column = 'text'`,
  IN, LIKE, integer comparisons, addresses; plan.py), only the columns the query can read,
  converted to the export's columns as far as it reads them, handed to DuckDB as Arrow.

Each row is in exactly one of the two. DuckDB runs sandboxed: it may read the export directory
and nothing else, cannot write, attach or install; statements other than one SELECT are
refused; a query running past its timeout is interrupted.
"""
from __future__ import annotations

import ipaddress
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
import pyarrow.parquet as pq

from hepserver.export.catalog import TypeCatalog
from hepserver.export.ducklake import attach, catalog_url, load_extension, s3_secret
from hepserver.export.addresses import address_columns
from hepserver.export.table import export_table
from hepserver.http.plan import Condition, QueryPlan, plan_query

__all__ = ["QueryEngine", "QueryError", "time_window"]

DEFAULT_WINDOW_US = 600 * 1_000_000
_TABLE = re.compile(r"\bhep_proto_(\d+)_(call|registration|default)\b|\bhep_(\d+)\b", re.I)
_CONDITION = re.compile(
    r"\b(?:time|timestamp)\s*(>=|<=|=|>|<)\s*(?:TIMESTAMPTZ|TIMESTAMP)?\s*'([^']+)'", re.I)
_NUMERIC = re.compile(r"\b(?:time|timestamp)\s*(>=|<=|=|>|<)\s*(\d{9,19})\b", re.I)
_BETWEEN = re.compile(
    r"\b(?:time|timestamp)\s+BETWEEN\s+(?:TIMESTAMPTZ|TIMESTAMP)?\s*'([^']+)'\s+AND\s+"
    r"(?:TIMESTAMPTZ|TIMESTAMP)?\s*'([^']+)'", re.I)


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
        # Exported files never change (a new name for every write), so their footers can be
        # kept between queries instead of read again for each one.
        self._duck.execute("SET parquet_metadata_cache = true")
        # A join's runtime filters pushed into the Arrow scan of hot rows fail ("Pushdown
        # Filter Type BLOOM_FILTER is not currently supported in PyArrow Scans",
        # duckdb/duckdb-python#463, DuckDB 1.5), so joins do without them.
        self._duck.execute("SET disabled_optimizers = 'join_filter_pushdown'")
        self._duck.execute("SET enable_external_access = false")
        self._duck.execute("SET lock_configuration = true")
        self._empty: dict[tuple[int, int], pa.Schema] = {}  # (type, hyena columns) -> schema
        self._schemas: dict[str, tuple] = {}  # exported file -> its columns (names, types)

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
            refs = referenced_tables(sql)
            plan = plan_query(con, sql, {r.name for r in refs}) if refs else QueryPlan(None)
            for ref in refs:
                self._view(con, ref, window, plan)
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

    def _view(self, con, ref: TableRef, window: tuple[int, int], plan: QueryPlan) -> None:
        start, end = window
        done = self._lake_watermarks(con) if self.lake else None
        filters = _hyena_filters(plan.conditions.get(ref.name, []), self.db)
        hot = self._hot(ref, start, end, filters, done, plan.columns)
        exported = []
        if self.lake:
            exported = [f"lake.{name}" for name in self._lake_tables(con, ref)]
        else:
            exported = self._parquet_sources(self._files(ref, start, end))
        # Hot rows are exactly those of the window already; exported ones are filtered here.
        window_sql = f"timestamp >= TIMESTAMPTZ '{_iso(start)}' AND " \
                     f"timestamp < TIMESTAMPTZ '{_iso(end)}'"
        parts = [f"SELECT * FROM {source} WHERE {window_sql}" for source in exported]
        if hot.num_rows or not parts:  # an empty Arrow scan still costs DuckDB milliseconds
            con.register(f"__hot_{ref.name}", hot)
            parts.append(f"SELECT * FROM __hot_{ref.name}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {ref.name} AS SELECT *, timestamp AS time FROM "
                    f"({' UNION ALL BY NAME '.join(parts)})")

    def _parquet_sources(self, files: list[str]) -> list[str]:
        """read_parquet calls over the files, one per schema: DuckDB's union_by_name reads
        every file's footer on every query, so files are grouped by their schema (read once
        per file; exported files never change) and only files of no known schema (remote,
        or gone meanwhile) are read by name."""
        groups: dict[tuple | None, list[str]] = {}
        for path in files:
            groups.setdefault(self._schema_of(path), []).append(path)
        out = []
        for key, paths in groups.items():
            listing = ", ".join(f"'{f}'" for f in paths)
            out.append(f"read_parquet([{listing}]"
                       f"{', union_by_name = true' if key is None else ''})")
        return out

    def _schema_of(self, path: str) -> tuple | None:
        key = self._schemas.get(path)
        if key is None and "://" not in path:
            try:
                schema = pq.read_schema(path)
            except (OSError, pa.ArrowInvalid):
                return None
            if len(self._schemas) > 100_000:
                self._schemas.clear()
            key = self._schemas[path] = tuple((f.name, str(f.type)) for f in schema)
        return key

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
             done: dict[str, int] | None = None,
             names: frozenset[str] | None = None) -> pa.Table:
        """Rows still only in hyena (past each partition's export watermark) in the window,
        in the export's columns; only those among `names` (and `timestamp`) if given.
        Partitions not exported at all are scanned together (in parallel) with `filters`;
        the rest of a partly exported one is read and filtered here by time and profile
        only (DuckDB applies the query's conditions anyway)."""
        if done is None:
            done = {}
            if (self.parquet_dir / self.writer_id / "dbs" / "hep-0" /
                    f"hep_{ref.hep_type}-0" / "metadata.json").exists():
                done = TypeCatalog.open_readonly(self.parquet_dir, self.writer_id,
                                                 ref.hep_type).partitions
        wanted = None if names is None else _export_names(names, self.db)
        columns = _scan_columns(wanted, self.db, ref.profile is not None)
        if ref.profile in ("call", "registration"):
            filters = filters + [("sip_profile", "==", ref.profile)]
        tables, whole = [], []
        for part in self.db.partitions(ref.hep_type):
            if part.max_ts < start_us or part.min_ts >= end_us:
                continue
            exported = done.get(str(part.id), 0)
            if exported >= part.rows:
                continue
            if exported == 0:
                whole.append(part.id)
                continue
            table = self.db.read_partition(part.id, exported, part.rows, columns=columns)
            ts = table.column("ts")
            table = table.filter(pc.and_(pc.greater_equal(ts, start_us), pc.less(ts, end_us)))
            if ref.profile in ("call", "registration"):
                table = table.filter(pc.equal(table.column("sip_profile"), ref.profile))
            tables.append(table)
        if whole:
            tables.append(self.db.scan(partitions=whole, min_ts=start_us, max_ts=end_us,
                                       columns=columns, filters=filters or None))
        pieces = []
        for table in tables:
            if ref.profile == "default":  # unparsed SIP counts as default, as in exports
                profile = table.column("sip_profile")
                table = table.filter(pc.or_kleene(pc.is_null(profile),
                                                  pc.equal(profile, "default")))
            if table.num_rows:
                piece = _export_form(table, ref.hep_type, wanted)
                if self.lake:  # lake tables say which node captured a row
                    piece = piece.append_column("writer_id", pa.repeat(
                        pa.scalar(self.writer_id), piece.num_rows))
                pieces.append(piece)
        if not pieces:
            schema = self._empty_schema(ref.hep_type)
            if wanted is not None:
                schema = pa.schema([f for f in schema if f.name in wanted])
            return schema.empty_table()
        return pa.concat_tables(pieces, promote_options="permissive")

    def _empty_schema(self, hep_type: int) -> pa.Schema:
        """The export's columns for hyena's columns as they are now."""
        key = (hep_type, len(self.db.columns))
        if key not in self._empty:
            self._empty[key] = export_table(self.db.scan(max_ts=0), hep_type).schema
        return self._empty[key]


def _iso(us: int) -> str:
    """An instant in µs as exact ISO 8601 text (no rounding through a float)."""
    return datetime.fromtimestamp(us // 1_000_000, tz=timezone.utc).replace(
        microsecond=us % 1_000_000).isoformat()


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


# --- hot rows in the export's form, as far as a query reads them ---------------------------------

_ADDRESSES = {"src_ip": "src_ip", "src_ip_v4": "src_ip", "src_ip_raw": "src_ip",
              "dst_ip": "dst_ip", "dst_ip_v4": "dst_ip", "dst_ip_raw": "dst_ip"}
_RCINFO = ("ts", "ip_family", "ip_proto", "src_ip", "dst_ip", "src_port", "dst_port",
           "capture_id", "correlation_id")  # what export_table builds rcinfo from
_MADE = {"timestamp", "hep_type", "rcinfo", *_ADDRESSES}  # export columns hyena has not
_IPV4_MAPPED = 0xFFFF << 32
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _export_names(names: frozenset[str], db) -> frozenset[str]:
    """The export columns among a query's words, with `timestamp` (the view filters on it)."""
    have = {c.name for c in db.columns} - {"ts", "source"} - set(_ADDRESSES)
    return frozenset(n for n in names if n in have or n in _MADE) | {"timestamp"}


def _scan_columns(wanted: frozenset[str] | None, db, profile: bool) -> list[str] | None:
    """The hyena columns the wanted export columns are made of (None: all)."""
    if wanted is None:
        return None
    need = {"ts"} | ({"sip_profile"} if profile else set())
    for name in wanted:
        if name == "rcinfo":
            need.update(_RCINFO)
        else:
            need.add(_ADDRESSES.get(name, name))
    return [c.name for c in db.columns if c.name in need and c.name != "source"]


def _export_form(table: pa.Table, hep_type: int, wanted: frozenset[str] | None) -> pa.Table:
    """export_table's columns of hyena rows, only those wanted (None: all). Without rcinfo
    the costly text columns are built only if the query reads them."""
    if wanted is None or "rcinfo" in wanted:
        full = export_table(table, hep_type)
        return full if wanted is None else full.select([c for c in full.column_names
                                                        if c in wanted])
    ts = table.column("ts")  # u64 µs below 2^63 (hyena's limit): the same bits as int64
    columns: dict[str, Any] = {"timestamp": pa.chunked_array(
        [chunk.view(_TIMESTAMP) for chunk in ts.chunks], _TIMESTAMP)}
    if "hep_type" in wanted:
        columns["hep_type"] = pa.repeat(pa.scalar(hep_type, pa.uint16()), table.num_rows)
    for side in ("src_ip", "dst_ip"):
        if side in table.column_names and wanted & {side, side + "_v4", side + "_raw"}:
            made = address_columns(table.column(side).combine_chunks(), side)
            columns.update({k: v for k, v in made.items() if k in wanted})
    for name in table.column_names:
        if name in wanted and name not in columns and name not in _ADDRESSES:
            columns[name] = table.column(name)
    return pa.table(columns)


def _hyena_filters(conditions: list[Condition], db) -> list[tuple[str, str, Any]]:
    """The conditions hyena's scan can test exactly as DuckDB would (every result row meets
    them; DuckDB tests them again): string and integer columns kept under their own name,
    addresses (`src_ip` text, `src_ip_v4` numbers) as the 128-bit values hyena stores."""
    columns = {c.name: c for c in db.columns}
    out: list[tuple[str, str, Any]] = []
    for name, op, value in conditions:
        values = value if op == "in" else [value]
        if name in ("src_ip", "dst_ip"):
            if op in ("==", "in") and all(isinstance(v, str) for v in values):
                addresses = [a for a in map(_address, values) if a is not None]
                if len(addresses) == len(values):
                    out.append((name, op, addresses if op == "in" else addresses[0]))
            continue
        if name in ("src_ip_v4", "dst_ip_v4"):
            if all(isinstance(v, int) for v in values):
                out += _ipv4_filters(_ADDRESSES[name], op, values)
            continue
        column = columns.get(name)
        if column is None or name in ("ts", "source") or column.type.is_int128:
            continue
        if column.type.is_string and all(isinstance(v, str) for v in values) and \
                op in ("==", "!=", "in", "contains", "starts_with", "ends_with"):
            out.append((name, op, value))
        elif not column.type.is_string and all(isinstance(v, int) for v in values) and \
                op in ("==", "!=", "<", "<=", ">", ">=", "in"):
            out.append((name, op, value))
    return out


def _address(text: str) -> int | None:
    """The 128-bit value hyena stores for an address as the export writes it."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return _IPV4_MAPPED | int(address) if address.version == 4 else int(address)


def _ipv4_filters(column: str, op: str, values: list[int]) -> list[tuple[str, str, Any]]:
    """`src_ip_v4 <op> n` (NULL for IPv6) as conditions on the mapped 128-bit address."""
    nothing = [(column, "<", 0)]  # no address can match
    if op == "in":
        mapped = [_IPV4_MAPPED | v for v in values if 0 <= v <= 0xFFFFFFFF]
        return [(column, "in", mapped)] if mapped else nothing
    if op not in ("==", ">=", ">", "<=", "<"):
        return []
    value = values[0]
    low = max(0, {"==": value, ">=": value, ">": value + 1}.get(op, 0))
    high = min(0xFFFFFFFF, {"==": value, "<=": value, "<": value - 1}.get(op, 0xFFFFFFFF))
    if low > high:
        return nothing
    return [(column, ">=", _IPV4_MAPPED | low), (column, "<=", _IPV4_MAPPED | high)]
