"""Parquet export: hyena's exporter against pyarrow writing the same tables, file sizes, and
DuckDB's query time over the export beside hyena's on the same rows.

SIP rows in the capture daemon's schema (benches.sipdata.capture_table, HEP type 1) are
appended to a hyena directory once. Then, round-robin, each into a fresh directory: the
exporter (`Exporter.export(everything=True)`: read, convert, split by 10-minute window and
Homer table, write, fsync, commit) with 2 threads (the default), 1 and 3; and pyarrow's
`pq.write_table` of exactly the tables the exporter writes (built before timing), with the
same codec, row groups, statistics and fsyncs, on one thread and on two. Then the same export
from a cold page cache, the sizes, and q1-q6 in DuckDB over the files and in hyena. The
issue's goal (export rows/s at least 80 % of pyarrow's) is printed as PASS/MISS.

    python -m benches export            # default run: 2M rows (about 5 minutes)
    python -m benches export --quick    # smoke run: 200k rows
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import ipaddress
import os
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import hyena
from benches.append import Goal
from benches.common import (MB, current_rss, drop_page_cache, fmt_bytes, fmt_count,
                            machine_summary, peak_rss, print_table, reset_peak_rss, scratch_dir,
                            scratch_root, settle)
from benches.sipdata import CAPTURE_SOURCE, QUERIES, capture_table
from hepserver.export.catalog import TypeCatalog, sync_directory
from hepserver.export.exporter import Exporter, ExportSettings
from hepserver.schema import ensure_schema

WRITER = "bench"
BATCH_ROWS = 10_000  # rows per append_arrow (the daemon ships a batch about that size)
TARGET = 0.8  # the issue: export rows/s at least 80 % of pyarrow's


# --- the hyena directory ------------------------------------------------------------------------

@dataclass
class Source:
    """The appended hyena directory and what the queries need to know about its rows."""

    db: hyena.Database
    path: Path
    rows: int
    arrow_bytes: int  # the capture rows in memory (Arrow), before they were appended
    params: dict


def check_rows(table: pa.Table, samples: int = 300) -> int:
    """Rows whose payload, parsed as the daemon parses it, gives other SIP columns than the
    generated ones (0: the data is what a capture would have stored)."""
    from hepserver.ingest.rows import SIP_ATTRIBUTES
    from hepserver.sip.parser import parse_sip

    bad = 0
    for i in np.linspace(0, table.num_rows - 1, min(samples, table.num_rows)).astype(int):
        row = table.slice(int(i), 1).to_pylist()[0]
        info = parse_sip(row["payload"].encode())
        bad += any(getattr(info, attr) != row[col] for col, attr in SIP_ATTRIBUTES.items())
    return bad


def load(path: Path, rows: int) -> Source:
    """Generate the rows, append them in 10k-row batches, flush; return the open directory."""
    table = capture_table(rows)
    mismatched = check_rows(table)
    if mismatched:
        raise SystemExit(f"generated rows disagree with their payloads ({mismatched})")
    db = hyena.open(path)
    ensure_schema(db)
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        db.append_arrow(CAPTURE_SOURCE, batch)
    db.flush()
    source = Source(db, path, table.num_rows, table.nbytes, query_params(table))
    del table
    gc.collect()
    return source


def warm_up(root: Path) -> None:
    """Load hyena's and the exporter's numba kernels (compiled and cached on first use) and
    pyarrow's Parquet writer outside any timing."""
    with scratch_dir(root, "export-warm") as path:
        source = load(path / "hyena", 5000)
        try:
            Exporter(source.db, ExportSettings(path / "parquet", WRITER)).export(everything=True)
            for query in QUERIES:
                hyena_query(source.db, query.name, source.params)
        finally:
            source.db.close()


def warm_cache(path: Path) -> None:
    """Read every file once, so hyena's export reads from the page cache (as the peer's
    tables are in memory)."""
    for root, _, files in os.walk(path):
        for name in files:
            with open(Path(root) / name, "rb") as f:
                while f.read(1 << 24):
                    pass


def reopen_cold(source: Source) -> None:
    """Close the directory, drop its files from the page cache and open it again (pages an
    open database keeps mapped would stay cached)."""
    source.db.close()
    drop_page_cache(source.path)
    source.db = hyena.open(source.path)


def hyena_size(path: Path) -> tuple[int, int]:
    """(apparent, allocated) bytes of the partition directories' files (block files, pools,
    partition metadata and indexes), not the catalog and group metadata around them."""
    apparent = allocated = 0
    for root, _, files in os.walk(path):
        if "meta.data" not in files:  # partition directories are those with a meta.data
            continue
        for name in files:
            st = os.stat(Path(root) / name)
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return apparent, allocated


# --- measuring ----------------------------------------------------------------------------------

@dataclass
class Result:
    """One system writing all the rows once."""

    system: str
    rows: int
    seconds: float
    files: int
    parquet_bytes: int
    table_bytes: int  # the exported tables in memory (Arrow), the same for every system
    peak_rss: int
    rss_growth: int  # peak minus resident memory at the start
    cpu_s: float  # CPU time of the process (every thread) during the measurement
    runs: int = 1

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


DEFAULT_THREADS = ExportSettings(Path(), "").threads


def settings_for(directory: Path, threads: int = DEFAULT_THREADS) -> ExportSettings:
    return ExportSettings(directory, WRITER, threads=threads)


@dataclass
class Meter:
    """Wall time, CPU time (every thread of the process) and memory of one measurement; only
    the regions run under `timed()` count."""

    def __init__(self) -> None:
        settle()
        self.base = current_rss()
        reset_peak_rss()
        self.seconds = self.cpu = 0.0

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu

    def result(self, system: str, rows: int, files: int, parquet_bytes: int,
               table_bytes: int = 0) -> Result:
        peak = peak_rss()
        return Result(system, rows, self.seconds, files, parquet_bytes, table_bytes, peak,
                      peak - self.base, self.cpu)


def export_once(source: Source, out: Path, cold: bool = False,
                threads: int = DEFAULT_THREADS) -> Result:
    """The exporter, every row of the directory, from the page cache (or from disk: `cold`)."""
    if cold:
        reopen_cold(source)
    else:
        warm_cache(source.path)
    meter = Meter()
    with meter.timed():
        rows = Exporter(source.db, settings_for(out, threads)).export(everything=True)
    catalog = TypeCatalog.open_readonly(out, WRITER, CAPTURE_SOURCE)
    label = f"hyena export, {threads} thread{'s' if threads > 1 else ''}" + \
        (", cold cache" if cold else "")
    return meter.result(label, rows, len(catalog.files),
                        sum(f.size_bytes for f in catalog.files))


def exporter_pieces(db: hyena.Database, part) -> list[pa.Table]:
    """The tables the exporter writes for one partition (made by the exporter itself)."""
    _, pieces = Exporter(db, settings_for(Path("unused"))).prepare(CAPTURE_SOURCE, part)
    return [table for _, table in pieces]


def write_synced(table: pa.Table, path: Path, settings: ExportSettings) -> int:
    """pq.write_table with the exporter's options, then fsync: the peer's whole job."""
    pq.write_table(table, path, compression=settings.compression,
                   compression_level=settings.compression_level,
                   row_group_size=settings.row_group_rows, write_statistics=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path.stat().st_size


PEER = "pyarrow, same files"


def all_pieces(source: Source) -> list[pa.Table]:
    """Every table the exporter writes, in its order, in memory at once (built untimed)."""
    return [p for part in source.db.partitions(CAPTURE_SOURCE)
            for p in exporter_pieces(source.db, part)]


def pyarrow_files(pieces: list[pa.Table], out: Path, threads: int = 1) -> Result:
    """pyarrow writing the exporter's files from memory, each fsynced, then the directory:
    in the exporter's order on this thread, or on `threads` threads, largest first."""
    settings = settings_for(out)
    out.mkdir(parents=True, exist_ok=True)
    write = lambda i: write_synced(pieces[i], out / f"{i:010d}.parquet", settings)  # noqa: E731
    meter = Meter()
    with meter.timed():
        if threads == 1:
            sizes = [write(i) for i in range(len(pieces))]
        else:
            with ThreadPoolExecutor(threads) as pool:
                sizes = list(pool.map(write, sorted(range(len(pieces)),
                                                    key=lambda i: -pieces[i].num_rows)))
        sync_directory(out)
    label = PEER if threads == 1 else f"{PEER}, {threads} threads"
    return meter.result(label, sum(p.num_rows for p in pieces), len(pieces), sum(sizes),
                        sum(p.nbytes for p in pieces))


def pyarrow_one_file(pieces: list[pa.Table], out: Path) -> Result:
    """pyarrow writing all the exported rows as one file: what the exporter's split into
    windows and Homer tables costs on top of the bare writer."""
    settings = settings_for(out)
    out.mkdir(parents=True, exist_ok=True)
    table = pa.concat_tables(pieces)  # zero-copy: chunks of the pieces
    meter = Meter()
    with meter.timed():
        size = write_synced(table, out / "all.parquet", settings)
        sync_directory(out)
    return meter.result("pyarrow, one file", table.num_rows, 1, size)


def measure(systems: dict[str, Callable[[Path], Result]], root: Path, runs: int,
            keep: tuple[str, Path] | None = None) -> list[Result]:
    """Every system `runs` times, round-robin, each into a fresh directory; the fastest run of
    each. `keep` = (system, directory): that system's last run writes there, and it stays."""
    best: dict[str, Result] = {}
    for run in range(runs):
        for name, system in systems.items():
            if keep is not None and (name, run) == (keep[0], runs - 1):
                shutil.rmtree(keep[1], ignore_errors=True)
                result = system(keep[1])
            else:
                with scratch_dir(root, "export-out") as out:
                    result = system(out)
            if name not in best or result.seconds < best[name].seconds:
                best[name] = result
            best[name].runs = run + 1
    return list(best.values())


def measure_all(source: Source, root: Path, runs: int, kept: Path) -> list[Result]:
    """The exports and the pyarrow writers, round-robin (so that load from elsewhere hits
    all alike), with the exporter's tables in memory throughout; the one-file writer, for
    information only, once."""
    pieces = all_pieces(source)
    systems: dict[str, Callable[[Path], Result]] = {
        "hyena": lambda out: export_once(source, out),
        "hyena-1": lambda out: export_once(source, out, threads=1),
        "hyena-3": lambda out: export_once(source, out, threads=3),
        "pyarrow": lambda out: pyarrow_files(pieces, out),
        "pyarrow-2": lambda out: pyarrow_files(pieces, out, threads=2),
    }
    results = measure(systems, root, runs, keep=("hyena", kept))
    return results + measure({"one": lambda out: pyarrow_one_file(pieces, out)}, root, 1)


# --- queries ------------------------------------------------------------------------------------

def _micros_literal(us: int) -> str:
    when = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)
    return f"TIMESTAMPTZ '{when:%Y-%m-%d %H:%M:%S.%f}+00'"


def _address_text(value: int) -> str:
    address = ipaddress.IPv6Address(value)
    return str(address.ipv4_mapped or address)


def query_params(table: pa.Table) -> dict:
    """q1-q6's constants (as benches.sipdata.query_params): a 10 % time range in the middle,
    the Call-ID of the middle row, 5 source addresses of rows spread over the table."""
    ts = table.column("ts")
    first, last = int(ts[0].as_py()), int(ts[-1].as_py())
    lo = first + (last - first) * 45 // 100
    n = table.num_rows
    src = [int.from_bytes(table.column("src_ip")[i * n // 5 + n // 10].as_py(), "little")
           for i in range(5)]
    return {"lo": lo, "hi": lo + (last - first) // 10,
            "needle": table.column("call_id")[n // 2].as_py(), "ips": src}


def duckdb_sql(name: str, params: dict) -> str:
    """q1-q6 over the exported columns, as a SQL user writes them (time literals, address
    text); `t` is the export."""
    between = (f"timestamp >= {_micros_literal(params['lo'])} "
               f"AND timestamp < {_micros_literal(params['hi'])}")
    ips = ", ".join(f"'{_address_text(ip)}'" for ip in params["ips"])
    return {
        "q1": f"SELECT count(*) FROM t WHERE {between}",
        "q2": f"SELECT timestamp, call_id FROM t WHERE {between} AND sip_method = 'INVITE'",
        "q3": f"SELECT timestamp, call_id, sip_method FROM t WHERE call_id = '{params['needle']}'",
        "q4": "SELECT timestamp, from_user FROM t WHERE from_user LIKE '%abc%'",
        "q5": "SELECT sip_method, count(*) FROM t GROUP BY sip_method",
        "q6": f"SELECT timestamp, call_id FROM t WHERE src_ip IN ({ips})",
    }[name]


def hyena_query(db: hyena.Database, name: str, params: dict):
    """The same query on hyena's rows (the capture columns: sip_method, 128-bit src_ip)."""
    lo, hi, sip = params["lo"], params["hi"], [CAPTURE_SOURCE]
    if name == "q1":
        return db.count(min_ts=lo, max_ts=hi, sources=sip)
    if name == "q5":
        return db.count(by="sip_method", sources=sip)
    scans = {
        "q2": dict(min_ts=lo, max_ts=hi, columns=["ts", "call_id"],
                   filters=[("sip_method", "==", "INVITE")]),
        "q3": dict(columns=["ts", "call_id", "sip_method"],
                   filters=[("call_id", "==", params["needle"])]),
        "q4": dict(columns=["ts", "from_user"], filters=[("from_user", "contains", "abc")]),
        "q6": dict(columns=["ts", "call_id"], filters=[("src_ip", "in", params["ips"])]),
    }
    return db.scan(sources=sip, **scans[name])


def _answer(name: str, result: object) -> object:
    """What must agree between the systems: q1's count, q5's (value, count) pairs, or the
    number of rows of the others."""
    if name == "q1":
        return result
    if name == "q5":
        pairs = result.items() if isinstance(result, dict) else \
            zip(*[c.to_pylist() for c in result.columns])
        return sorted(pairs, key=lambda kv: (kv[0] is None, kv[0] or ""))
    return result.num_rows


def _timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median seconds of `repeats` warm runs (after one untimed run), and the answer."""
    answer = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), answer


@dataclass
class QueryResult:
    name: str
    what: str
    duckdb_s: float
    hyena_s: float
    duckdb_answer: object
    hyena_answer: object
    rows: int = field(default=0)

    @property
    def agree(self) -> bool:
        return self.duckdb_answer == self.hyena_answer


def run_queries(source: Source, export_dir: Path, repeats: int) -> tuple[list[QueryResult], str]:
    import duckdb

    catalog = TypeCatalog.open_readonly(export_dir, WRITER, CAPTURE_SOURCE)
    glob = f"{catalog.directory}/**/*.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{glob}')")
    total = con.execute("SELECT count(*) FROM t").fetchone()[0]
    if total != sum(f.row_count for f in catalog.files):
        raise SystemExit(f"the glob reads {total} rows, metadata.json lists another number")
    out = []
    for query in QUERIES:
        sql = duckdb_sql(query.name, source.params)

        def duck(sql: str = sql) -> object:
            table = con.execute(sql).fetch_arrow_table()
            return table.column(0)[0].as_py() if query.name == "q1" else table

        duck_s, duck_answer = _timed(duck, repeats)
        hy_s, hy_answer = _timed(lambda q=query.name: hyena_query(source.db, q, source.params),
                                 repeats)
        what = query.what.replace("method", "sip_method")
        result = QueryResult(query.name, what, duck_s, hy_s,
                             _answer(query.name, duck_answer), _answer(query.name, hy_answer))
        result.rows = len(result.hyena_answer) if query.name == "q5" else result.hyena_answer
        out.append(result)
    con.close()
    return out, glob


# --- reporting ----------------------------------------------------------------------------------

def report_export(results: list[Result], source: Source) -> None:
    table_bytes = next((r.table_bytes for r in results if r.table_bytes), 0)
    peer = next(r for r in results if r.system == PEER)
    rows = []
    for r in results:
        rows.append([r.system, fmt_count(r.rows), r.runs, f"{r.seconds:.2f}",
                     f"{r.cpu_s:.2f}", fmt_count(r.rows_per_s),
                     f"{table_bytes / r.seconds / MB:.0f}",
                     f"{r.parquet_bytes / r.seconds / MB:.0f}", r.files,
                     fmt_bytes(r.parquet_bytes), fmt_bytes(r.peak_rss), fmt_bytes(r.rss_growth),
                     "" if r is peer else f"{r.rows_per_s / peer.rows_per_s:.2f}"])
    print_table(["system", "rows", "runs", "s", "CPU s", "rows/s", "table MB/s",
                 "Parquet MB/s", "files", "Parquet", "peak RSS", "+RSS", "÷ pyarrow"], rows,
                f"export: {fmt_count(source.rows)} rows; table MB/s = the exported tables' Arrow "
                f"bytes ({fmt_bytes(table_bytes)}) per second, the same for every row; "
                f"÷ pyarrow = rows/s ÷ pyarrow's, same files")


def report_sizes(source: Source, parquet_bytes: int) -> None:
    apparent, allocated = hyena_size(source.path)
    n = source.rows
    rows = [["Arrow in memory (generated)", fmt_bytes(source.arrow_bytes),
             f"{source.arrow_bytes / n:.0f}", f"{source.arrow_bytes / apparent:.2f}"],
            ["hyena, apparent (st_size)", fmt_bytes(apparent), f"{apparent / n:.0f}", "1.00"],
            ["hyena, allocated (st_blocks)", fmt_bytes(allocated), f"{allocated / n:.0f}",
             f"{allocated / apparent:.2f}"],
            ["Parquet export (zstd)", fmt_bytes(parquet_bytes), f"{parquet_bytes / n:.0f}",
             f"{parquet_bytes / apparent:.2f}"]]
    print_table(["storage", "bytes", "B/row", "÷ hyena apparent"], rows,
                "size of the same rows")


def report_queries(results: list[QueryResult], glob: str) -> None:
    rows = [[f"{q.name} {q.what}", q.rows, f"{q.duckdb_s * 1000:.1f}", f"{q.hyena_s * 1000:.1f}",
             f"{q.duckdb_s / q.hyena_s:.2f}", "yes" if q.agree else "NO"] for q in results]
    print_table(["query", "rows", "DuckDB ms", "hyena ms", "DuckDB ÷ hyena", "agree"], rows,
                f"queries over the export: DuckDB read_parquet('{glob.rsplit('/', 4)[0]}/...') "
                f"against hyena on the same rows; warm median; DuckDB ÷ hyena = DuckDB's "
                f"time ÷ hyena's (above 1: hyena faster)")


# --- command line -------------------------------------------------------------------------------

def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benches export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows (default 2,000,000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200,000 rows, 1 run")
    parser.add_argument("--runs", type=int, default=2,
                        help="measurements of each system, round-robin, fastest kept (2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per query (5)")
    parser.add_argument("--dir", help="scratch directory on the disk to measure "
                                      "(default: the temp dir, if not tmpfs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.runs, args.repeats = min(args.rows, 200_000), 1, 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    root = scratch_root(args.dir)
    print("export benchmark (benches/export.py)")
    for line in machine_summary(root):
        print(line)
    import duckdb
    print(f"pyarrow {pa.__version__}, DuckDB {duckdb.__version__}")
    warm_up(root)
    with scratch_dir(root, "export-hyena") as path:
        source = load(path / "hyena", args.rows)
        try:
            return run(args, root, source)
        finally:
            source.db.close()


def run(args: argparse.Namespace, root: Path, source: Source) -> int:
    print(f"{fmt_count(source.rows)} SIP rows in the capture schema "
          f"({source.arrow_bytes / source.rows:.0f} B/row in Arrow), appended in "
          f"{fmt_count(BATCH_ROWS)}-row batches: {len(source.db.partitions(CAPTURE_SOURCE))} "
          f"partitions; zstd, row groups of {fmt_count(settings_for(root).row_group_rows)}; "
          f"fastest of {args.runs} runs")
    kept = root / "hyena-bench-export-kept"  # the export the queries read
    with scratch_dir(root, "export-first") as out:
        export_once(source, out)  # untimed: maps hyena's files, so no system pays for that
    try:
        results = measure_all(source, root, args.runs, kept)
        with scratch_dir(root, "export-cold") as out:
            results.append(export_once(source, out, cold=True))
        results.sort(key=lambda r: (not r.system.startswith("hyena"), "cold" in r.system))
        report_export(results, source)
        report_sizes(source, results[0].parquet_bytes)
        queries, glob = run_queries(source, kept, args.repeats)
        report_queries(queries, glob)
    finally:
        drop_page_cache(kept)
        shutil.rmtree(kept, ignore_errors=True)
    print("\nissue goals:")
    if args.quick:
        print("(--quick: a few partitions, one run: a smoke test; the ratios need the default run)")
    for goal in export_goals({r.system: r for r in results}):
        print(goal.line())
    mismatched = [q.name for q in queries if not q.agree]
    if mismatched:
        print(f"MISS  DuckDB and hyena disagree on {', '.join(mismatched)}")
    return 0


def export_goals(by_name: dict[str, Result]) -> list[Goal]:
    """The issue's goal (export ≥ 80 % of pyarrow's rows/s): for the default export, and
    with both sides on one core and on every core."""
    peer, peer2 = by_name[PEER], by_name[PEER + ", 2 threads"]
    default = by_name[f"hyena export, {DEFAULT_THREADS} threads"]
    single, three = by_name["hyena export, 1 thread"], by_name["hyena export, 3 threads"]
    return [
        Goal(f"hyena export ({DEFAULT_THREADS} threads, the default) rows/s ÷ pyarrow writing "
             f"the same tables", default.rows_per_s / peer.rows_per_s, TARGET,
             f"{fmt_count(default.rows_per_s)} against {fmt_count(peer.rows_per_s)} rows/s"),
        Goal("same, the export on one thread (threads=1)", single.rows_per_s /
             peer.rows_per_s, TARGET, f"{fmt_count(single.rows_per_s)} rows/s"),
        Goal("both on every core: the export with threads=3 ÷ pyarrow writing two files at a "
             "time", three.rows_per_s / peer2.rows_per_s, TARGET,
             f"{fmt_count(three.rows_per_s)} against {fmt_count(peer2.rows_per_s)} rows/s"),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
