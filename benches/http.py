"""HTTP query API: the scan issue's q1-q6 over hepserver's /query against DuckDB alone on the
same rows, and the capture rate while queries run.

The capture daemon runs as a subprocess (`python -m hepserver`) on 127.0.0.1 with a fresh data
directory, pre-built before it starts: `capture_table` SIP rows (hepserver's schema, as its
decoder and SIP parser store them; a sample is checked against that path) appended to hyena as
the daemon's writer appends worker batches, their timestamps stretched over `--span` seconds.
Exports are made with `hepserver export --all` and `hepserver compact` (daemon stopped), so
the same rows are queried in four states:

- hot: every row only in hyena (the daemon runs with --no-export);
- mixed: the first half exported to Parquet, the second half hot;
- exported: every row in the exporter's 10-minute Parquet files;
- compacted: every row in hourly compacted files.

Peers, in this process, on the same rows: DuckDB with the rows in an on-disk table (loaded from
the hyena rows in the export form the API shows, in capture order), and DuckDB reading the same
Parquet files the API reads (exported states). Both run the same SQL against a view
`hep_1 = SELECT *, timestamp AS time` as the API does. Latency is wall time to the whole result
(DuckDB: an Arrow table; HTTP: the response body, Arrow IPC or JSON), warm: one untimed run,
then median and p95 of `--repeat` runs. Every HTTP result (Arrow) must equal DuckDB's.

Ingest: HEP packets over UDP at `--rate` packets/s for `--ingest-seconds` from a sender
process (capture time = send time), with and without a client looping over q1-q6, on the hot
and the exported data; rows stored are counted through the API itself, kernel drops from
/proc/net/udp, loss = 1 - stored ÷ sent.

    python -m benches http              # default run (1M rows, a few minutes)
    python -m benches http --quick      # smoke run (100k rows; hot and exported states only)
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import multiprocessing
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from benches.common import (fmt_bytes, fmt_count, free_port, machine_summary, peak_rss,
                            print_table, proc_status_bytes, reset_peak_rss, scratch_dir,
                            scratch_root, settle)
from benches.sipdata import (CAPTURE_SOURCE, HEP_QUERIES, T0, Query, capture_table,
                             hep_packets, hep_query_params, hep_render, iso_time)
from hepserver.daemon import udp_drops

ARROW = "application/vnd.apache.arrow.stream"
JSON = "application/json"
WRITER = "bench"


# --- data ---------------------------------------------------------------------------------------

def bench_rows(rows: int, span_s: float) -> pa.Table:
    """capture_table rows with their timestamps stretched over `span_s` seconds from T0."""
    table = capture_table(rows)
    ts = table.column("ts").to_numpy()
    steps = ts - ts[0]
    if span_s > 0 and steps[-1] > 0:
        ts = np.uint64(T0) + steps * np.uint64(int(span_s * 1e6)) // steps[-1]
    return table.set_column(0, table.schema.field("ts"), pa.array(ts, pa.uint64()))


def check_rows(table: pa.Table, sample: int = 2000) -> tuple[int, list[str]]:
    """Rows of a sample whose HEP packet, decoded and parsed as the daemon's workers do, does
    not give back the row; and the columns that differ."""
    from hepserver.hep.decode import decode
    from hepserver.ingest.rows import RowBuffer
    from hepserver.sip.parser import parse_sip

    rows = table.take(np.linspace(0, table.num_rows - 1, min(sample, table.num_rows),
                                  dtype=np.int64))
    buffer = RowBuffer()
    for packet in hep_packets(rows):
        decoded = decode(packet, 0)
        buffer.add(decoded, parse_sip(decoded.payload))
    stored = pa.Table.from_batches([buffer.take()])
    differ = [name for name in stored.column_names
              if not rows.column(name).cast(stored.column(name).type).equals(stored.column(name))]
    return rows.num_rows, differ


def append_rows(data_dir: Path, table: pa.Table, batch_rows: int = 4096) -> None:
    """Append rows to a (new) capture data directory as the daemon's writer does: its schema,
    worker-sized batches, a flush at the end."""
    import hyena
    from hepserver.schema import ensure_schema

    with hyena.open(data_dir) as db:
        ensure_schema(db)
        for batch in table.to_batches(batch_rows):
            db.append_arrow(CAPTURE_SOURCE, batch)
        db.flush()


def export_form(data_dir: Path) -> pa.Table:
    """Every SIP row of a data directory as the API shows it (the export's columns)."""
    import hyena
    from hepserver.export.table import export_table

    with hyena.open(data_dir) as db:
        return export_table(db.scan(sources=[CAPTURE_SOURCE]), CAPTURE_SOURCE)


def hepserver(command: str, data_dir: Path, parquet_dir: Path, *extra: str) -> None:
    """A one-off maintenance command (export, compact) on a stopped daemon's data."""
    subprocess.run([sys.executable, "-m", "hepserver", command, "--data-dir", str(data_dir),
                    "--parquet-dir", str(parquet_dir), "--writer-id", WRITER,
                    "--log-level", "warning", *extra], check=True)


def exported_files(parquet_dir: Path) -> list[str]:
    """The files metadata.json lists for SIP (what the API reads, exactly once)."""
    from hepserver.export.catalog import TypeCatalog

    if not (parquet_dir / WRITER).exists():
        return []
    catalog = TypeCatalog.open_readonly(parquet_dir, WRITER, CAPTURE_SOURCE)
    return sorted(str(catalog.directory / entry.path) for entry in catalog.files)


# --- the daemon ---------------------------------------------------------------------------------

class Daemon:
    """`python -m hepserver` on loopback; an HTTP/1.1 keep-alive client for its API."""

    def __init__(self, data_dir: Path, parquet_dir: Path, *extra: str) -> None:
        self.hep_port, self.http_port = free_port(), free_port()
        self.parquet_dir = parquet_dir
        self.log_path = data_dir.parent / f"{data_dir.name}-daemon.log"
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hepserver", "--host", "127.0.0.1",
             "--port", str(self.hep_port), "--http-port", str(self.http_port),
             "--data-dir", str(data_dir), "--parquet-dir", str(parquet_dir),
             "--writer-id", WRITER, "--hyena-transport", "off", "--stats-interval", "0",
             "--log-level", "warning", *extra], stdout=self.log, stderr=self.log)
        self.conn: http.client.HTTPConnection | None = None
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"hepserver exited with {self.process.returncode}; see "
                                   f"{self.log.name}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.get("/health")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("hepserver did not answer /health within 120 s")
            time.sleep(0.2)

    def get(self, path: str, accept: str = JSON) -> tuple[int, dict[str, str], bytes]:
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=120)
            try:
                self.conn.request("GET", path, headers={"Accept": accept})
                response = self.conn.getresponse()
                return response.status, dict(response.headers), response.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def query(self, sql: str, accept: str = ARROW) -> tuple[float, int, bytes]:
        """(seconds to the whole body, rows, body); raises on an error answer."""
        path = "/query?q=" + urllib.parse.quote(sql)
        start = time.perf_counter()
        status, headers, body = self.get(path, accept)
        seconds = time.perf_counter() - start
        if status != 200:
            raise RuntimeError(f"HTTP {status} for {sql!r}: {body[:300]!r}")
        return seconds, int(headers.get("X-Rows", -1)), body

    def log_count(self, text: str) -> int:
        """Lines of the daemon's log so far that contain `text`."""
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return sum(text in line for line in f)

    def pids(self) -> list[int]:
        """The daemon and its worker processes."""
        import psutil

        with contextlib.suppress(psutil.Error):
            main = psutil.Process(self.process.pid)
            return [main.pid] + [c.pid for c in main.children(recursive=True)]
        return [self.process.pid]

    def reset_peak(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")

    def peak_rss(self) -> tuple[int, int]:
        """(the main process's peak RSS since reset_peak, the workers' summed)."""
        pids = self.pids()
        return (proc_status_bytes(pids[0], "VmHWM"),
                sum(proc_status_bytes(pid, "VmHWM") for pid in pids[1:]))

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self) -> "Daemon":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --- peers --------------------------------------------------------------------------------------

class DuckPeer:
    """DuckDB alone: `hep_1` over an on-disk table of the rows or over the exported files."""

    def __init__(self, con, label: str) -> None:
        self.con = con
        self.label = label

    @classmethod
    def table(cls, path: Path, rows: pa.Table) -> "DuckPeer":
        import duckdb

        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE hep_1_rows AS SELECT * FROM rows")
        con.execute("CHECKPOINT")
        con.close()
        con = duckdb.connect(str(path))
        con.execute("CREATE VIEW hep_1 AS SELECT *, timestamp AS time FROM hep_1_rows")
        return cls(con, "DuckDB table")

    @classmethod
    def parquet(cls, files: list[str]) -> "DuckPeer":
        """read_parquet over the files, as fast as DuckDB reads them: footers cached between
        queries, and no union_by_name when the files share one schema (they do here)."""
        import duckdb
        import pyarrow.parquet as pq

        con = duckdb.connect()
        con.execute("SET parquet_metadata_cache = true")
        listing = ", ".join(f"'{f}'" for f in files)
        same = len({pq.read_schema(f) for f in files}) == 1
        con.execute(f"CREATE VIEW hep_1 AS SELECT *, timestamp AS time FROM read_parquet("
                    f"[{listing}]{'' if same else ', union_by_name = true'})")
        return cls(con, "DuckDB Parquet")

    @classmethod
    def mixed(cls, table: "DuckPeer", files: list[str], boundary_us: int) -> "DuckPeer":
        """The mixed state's layout in DuckDB alone: the exported files, and the table's rows
        after the last exported one (a view in a schema of its own on the table's database)."""
        con = table.con.cursor()
        con.execute("SET parquet_metadata_cache = true")
        listing = ", ".join(f"'{f}'" for f in files)
        con.execute("CREATE SCHEMA IF NOT EXISTS mixed")
        con.execute(f"CREATE OR REPLACE VIEW mixed.hep_1 AS SELECT *, timestamp AS time FROM "
                    f"(SELECT * FROM read_parquet([{listing}]) UNION ALL BY NAME "
                    f"SELECT * FROM main.hep_1_rows "
                    f"WHERE timestamp > TIMESTAMPTZ '{iso_time(boundary_us)}')")
        con.execute("SET search_path = 'mixed'")
        return cls(con, "DuckDB Parquet+table")

    def run(self, sql: str) -> tuple[float, pa.Table]:
        start = time.perf_counter()
        result = self.con.execute(sql).to_arrow_table()
        return time.perf_counter() - start, result

    def close(self) -> None:
        self.con.close()


# --- measuring ----------------------------------------------------------------------------------

@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else math.nan

    @property
    def p95(self) -> float:
        if not self.samples:
            return math.nan
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class QueryResult:
    name: str
    rows: int
    times: dict[str, Timing]  # by system label
    same: bool  # the HTTP (Arrow) result equals the first peer's


def _canonical(table: pa.Table) -> pa.Table:
    """The rows in a fixed order (results without ORDER BY come in any order)."""
    table = table.combine_chunks()
    return table.sort_by([(name, "ascending") for name in table.column_names]) \
        if table.num_rows > 1 else table


def _arrow(body: bytes) -> pa.Table:
    with pa.ipc.open_stream(body) as reader:
        return reader.read_all()


SELECT_ONE = Query("SELECT 1", "the HTTP path's own cost", "SELECT 1")


def measure_queries(daemon: Daemon, peers: list[DuckPeer], queries: list[tuple[str, str]],
                    repeat: int) -> list[QueryResult]:
    """Every query on every system: one warm-up, then `repeat` rounds, round-robin."""
    results = []
    for name, sql in queries:
        runs: dict[str, Callable[[], tuple[float, object]]] = {
            peer.label: (lambda p=peer: p.run(sql)) for peer in peers}
        runs["HTTP Arrow"] = lambda: daemon.query(sql, ARROW)[::2]
        runs["HTTP JSON"] = lambda: daemon.query(sql, JSON)[::2]
        outputs = {label: run()[1] for label, run in runs.items()}  # warm-up
        times = {label: Timing() for label in runs}
        for _ in range(repeat):
            for label, run in runs.items():
                times[label].samples.append(run()[0])
        reference = outputs[peers[0].label]
        http_rows = _arrow(outputs["HTTP Arrow"])
        same = all(_canonical(p).equals(_canonical(http_rows)) for label, p in outputs.items()
                   if label in {peer.label for peer in peers}) and \
            len(json.loads(outputs["HTTP JSON"])) == reference.num_rows
        results.append(QueryResult(name, reference.num_rows, times, same))
    return results


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}" if seconds < 10 else f"{seconds * 1000:.0f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b and not math.isnan(a) else "-"


def report_queries(title: str, results: list[QueryResult], peers: list[str]) -> None:
    headers = ["query", "rows"]
    for label in peers + ["HTTP Arrow", "HTTP JSON"]:
        headers += [f"{label} ms", "p95"]
    headers += [f"Arrow ÷ {p.split()[-1]}" for p in peers] + ["JSON ÷ " + peers[0].split()[-1],
                                                              "same"]
    rows = []
    for r in results:
        row: list[object] = [r.name, fmt_count(r.rows)]
        for label in peers + ["HTTP Arrow", "HTTP JSON"]:
            row += [_ms(r.times[label].median), _ms(r.times[label].p95)]
        http = r.times["HTTP Arrow"].median
        row += [_ratio(http, r.times[p].median) for p in peers]
        row += [_ratio(r.times["HTTP JSON"].median, r.times[peers[0]].median),
                "yes" if r.same else "NO"]
        rows.append(row)
    print_table(headers, rows, title)


# --- ingest -------------------------------------------------------------------------------------

def _ts_offsets(packet: bytes) -> tuple[int, int]:
    """Where a HEPv3 packet's seconds and microseconds values are (chunks 9 and 10)."""
    seconds = packet.index(struct.pack(">HHH", 0, 0x09, 10)) + 6
    micros = packet.index(struct.pack(">HHH", 0, 0x0A, 10)) + 6
    return seconds, micros


def send_paced(port: int, rate: float, seconds: float, distinct: int, ready, go, out) -> None:
    """Sender process: HEP over UDP at `rate` packets/s for `seconds`, capture time = now
    (the timestamps of pre-encoded packets are rewritten as they go out)."""
    table = capture_table(distinct, seed=99)
    packets = [bytearray(p) for p in hep_packets(table)]
    offsets = [_ts_offsets(bytes(p)) for p in packets]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    address = ("127.0.0.1", port)
    pack = struct.pack_into
    ready.set()
    go.wait()
    start = time.perf_counter()
    sent = 0
    total = int(rate * seconds)
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        now = time.time_ns() // 1000
        while sent < due:
            packet = packets[sent % distinct]
            at_s, at_us = offsets[sent % distinct]
            pack(">I", packet, at_s, now // 1_000_000)
            pack(">I", packet, at_us, now % 1_000_000)
            sock.sendto(packet, address)
            sent += 1
        time.sleep(0.0005)
    out.send((sent, time.perf_counter() - start))


@dataclass
class IngestResult:
    label: str
    sent: int
    send_s: float
    stored: int
    stored_s: float  # from the start until the last row was stored
    kernel_drops: int
    latencies: dict[str, Timing]
    exported: int = 0  # rows the daemon exported meanwhile (any capture time)
    export_failed: int = 0

    @property
    def loss(self) -> float:
        return 1 - self.stored / self.sent if self.sent else 0.0


def _stored_since(daemon: Daemon, start_us: int) -> int:
    """Rows captured from `start_us` on that the API finds (the sender stamps packets with
    the time they are sent). Not from /metrics or /api/v1/metadata/stats: both compute the
    export lag, which opens the export catalog for writing and, during an export, deletes
    the file being written (see docs/benchmarks.md)."""
    sql = (f"SELECT count(*) AS n FROM hep_1 WHERE time >= '{iso_time(start_us)}' "
           f"AND time < '{iso_time(time.time_ns() // 1000 + 60_000_000)}'")
    return json.loads(daemon.query(sql, JSON)[2])[0]["n"]


def _exported(daemon: Daemon) -> int:
    """Rows in the daemon's exported files (metadata.json, read as readers read it)."""
    from hepserver.export.catalog import TypeCatalog

    catalog = TypeCatalog.open_readonly(daemon.parquet_dir, WRITER, CAPTURE_SOURCE)
    return sum(f.row_count for f in catalog.files)


def ingest(daemon: Daemon, label: str, rate: float, seconds: float,
           queries: list[tuple[str, str]] | None) -> IngestResult:
    """Send at `rate` for `seconds`, optionally with a client looping over `queries`; wait
    until stored rows stop growing."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Event(), context.Event()
    receive, send = context.Pipe(duplex=False)
    sender = context.Process(target=send_paced, args=(daemon.hep_port, rate, seconds,
                                                      min(int(rate * seconds), 50_000), ready,
                                                      go, send), daemon=True)
    sender.start()
    ready.wait(300)
    drops0, failures0 = udp_drops(daemon.hep_port), daemon.log_count("export failed")
    exported0 = _exported(daemon)
    start_us = time.time_ns() // 1000
    latencies: dict[str, Timing] = {}
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            for name, sql in queries or []:
                if stop.is_set():
                    break
                latencies.setdefault(name, Timing()).samples.append(daemon.query(sql)[0])

    worker = threading.Thread(target=client, daemon=True) if queries else None
    start = time.perf_counter()
    go.set()
    if worker is not None:
        worker.start()
    sent, send_s = receive.recv()
    stop.set()
    if worker is not None:
        worker.join()
    sender.join()
    last_change, stored = time.perf_counter(), -1
    while time.perf_counter() - last_change < 3.0:  # settled: nothing new for 3 s
        now = _stored_since(daemon, start_us)
        if now != stored:
            stored, last_change = now, time.perf_counter()
        if stored >= sent:
            break
        time.sleep(0.2)
    return IngestResult(label, sent, send_s, stored, last_change - start,
                        udp_drops(daemon.hep_port) - drops0, latencies,
                        _exported(daemon) - exported0,
                        daemon.log_count("export failed") - failures0)


def report_ingest(title: str, results: list[IngestResult], rate: float) -> None:
    rows = []
    for r in results:
        rows.append([r.label, fmt_count(r.sent), f"{r.send_s:.1f}", fmt_count(r.stored),
                     fmt_count(r.stored / r.stored_s), f"{r.loss * 100:.2f} %",
                     fmt_count(r.kernel_drops), fmt_count(r.exported), r.export_failed])
    print_table(["load", "sent", "send s", "stored", "stored rows/s", "loss", "kernel drops",
                 "exported meanwhile", "export failures"], rows,
                f"{title}: HEP over UDP at {fmt_count(rate)} packets/s")


def report_latency_under_ingest(title: str, quiet: list[QueryResult],
                                busy: IngestResult) -> None:
    rows = []
    for q in quiet:
        t = busy.latencies.get(q.name)
        if t is None:
            continue
        base = q.times["HTTP Arrow"]
        rows.append([q.name, len(t.samples), _ms(base.median), _ms(t.median), _ms(t.p95),
                     _ratio(t.median, base.median)])
    print_table(["query", "runs", "idle ms", "under ingest ms", "p95", "÷ idle"], rows, title)


# --- goals --------------------------------------------------------------------------------------

@dataclass
class Goal:
    text: str
    achieved: float
    target: float
    lower_is_better: bool = True
    note: str = ""

    @property
    def met(self) -> bool:
        return self.achieved <= self.target if self.lower_is_better else \
            self.achieved >= self.target

    def line(self) -> str:
        sign = "≤" if self.lower_is_better else "≥"
        extra = f"; {self.note}" if self.note else ""
        return (f"{'PASS' if self.met else 'MISS'}  {self.text}: {self.achieved:.2f} "
                f"(target {sign} {self.target:g}){extra}")


def latency_goals(state: str, results: list[QueryResult], peer: str,
                  target: float) -> list[Goal]:
    goals = []
    for r in results:
        if r.name == SELECT_ONE.name:
            continue
        http, duck = r.times["HTTP Arrow"].median, r.times[peer].median
        goals.append(Goal(f"{state} {r.name}: HTTP ÷ {peer} median latency", http / duck,
                          target, note=f"{_ms(http)} ms against {_ms(duck)} ms"))
    return goals


# --- the run ------------------------------------------------------------------------------------

def _queries(params: dict) -> list[tuple[str, str]]:
    return [(SELECT_ONE.name, SELECT_ONE.sql)] + [(q.name, hep_render(q, params))
                                                   for q in HEP_QUERIES]


@dataclass
class State:
    label: str
    peers: list[DuckPeer]
    results: list[QueryResult]
    daemon_rss: tuple[int, int]


def run_state(label: str, data_dir: Path, parquet_dir: Path, peers: list[DuckPeer],
              queries: list[tuple[str, str]], repeat: int, notes: str) -> State:
    settle()
    start = time.perf_counter()
    with Daemon(data_dir, parquet_dir, "--no-export") as daemon:
        daemon.reset_peak()
        results = measure_queries(daemon, peers, queries, repeat)
        rss = daemon.peak_rss()
    report_queries(f"{label}: {notes}", results, [p.label for p in peers])
    print(f"daemon peak RSS {fmt_bytes(rss[0])} (workers {fmt_bytes(rss[1])}); "
          f"{time.perf_counter() - start:.0f} s with the daemon's start")
    return State(label, peers, results, rss)


def run_ingest(label: str, data_dir: Path, parquet_dir: Path, quiet: list[QueryResult],
               queries: list[tuple[str, str]], args: argparse.Namespace,
               extra: tuple[str, ...]) -> list[IngestResult]:
    settle()
    with Daemon(data_dir, parquet_dir, *extra) as daemon:
        for name, sql in queries:  # warm
            daemon.query(sql)
        alone = ingest(daemon, "ingest alone", args.rate, args.ingest_seconds, None)
        busy = ingest(daemon, "ingest + q1-q6 loop", args.rate, args.ingest_seconds,
                      [q for q in queries if q[0] != SELECT_ONE.name])
    report_ingest(label, [alone, busy], args.rate)
    report_latency_under_ingest(f"{label}: query latency (HTTP Arrow) under ingest", quiet, busy)
    return [alone, busy]


def prepare(table: pa.Table, path: Path, quick: bool) -> tuple[Path, Path, Path]:
    """The hot data directory, and the lake one with its first half exported (the second
    half appended after the export) unless quick, when everything is exported at once."""
    hot, lake, lake_pq = path / "hot", path / "lake", path / "lake-parquet"
    append_rows(hot, table)
    half = table.num_rows if quick else table.num_rows // 2
    append_rows(lake, table.slice(0, half))
    hepserver("export", lake, lake_pq, "--all")
    if half < table.num_rows:
        append_rows(lake, table.slice(half))
    return hot, lake, lake_pq


def run(args: argparse.Namespace, root: Path) -> list[Goal]:
    start = time.perf_counter()
    table = bench_rows(args.rows, args.span)
    checked, differ = check_rows(table)
    print(f"rows: {fmt_count(table.num_rows)} capture_table rows over {args.span:g} s, "
          f"{fmt_bytes(table.nbytes)} in Arrow; {checked} sampled rows sent through "
          f"hepserver's decoder and SIP parser: "
          f"{'identical' if not differ else 'DIFFERENT in ' + ', '.join(differ)}")
    queries = _queries(hep_query_params(table))
    boundary = int(table.column("ts")[table.num_rows // 2 - 1].as_py())
    goals: list[Goal] = []
    with scratch_dir(root, "http") as path:
        hot, lake, lake_pq = prepare(table, path, args.quick)
        del table
        rows = export_form(hot)
        reset_peak_rss()
        duck = DuckPeer.table(path / "peer.duckdb", rows)
        del rows
        print(f"prepared in {time.perf_counter() - start:.0f} s; bench process peak RSS "
              f"{fmt_bytes(peak_rss())} while loading DuckDB")
        print(f"latency: wall time to the whole result, median and p95 of {args.repeat} warm "
              f"runs; ÷ = HTTP median ÷ the peer's; same = HTTP rows equal DuckDB's")
        states = [run_state("hot", hot, path / "hot-parquet", [duck], queries, args.repeat,
                            "every row in hyena")]
        if not args.quick:
            files = exported_files(lake_pq)
            mixed = DuckPeer.mixed(duck, files, boundary)
            states.append(run_state("mixed", lake, lake_pq, [duck, mixed], queries,
                                    args.repeat, f"first half exported ({len(files)} files), "
                                                 f"second half in hyena"))
            hepserver("export", lake, lake_pq, "--all")
        files = exported_files(lake_pq)
        parquet = DuckPeer.parquet(files)
        states.append(run_state("exported", lake, lake_pq, [duck, parquet], queries,
                                args.repeat, f"every row in {len(files)} 10-minute Parquet "
                                             f"files"))
        parquet.close()
        if not args.quick:
            hepserver("compact", lake, lake_pq)
            files = exported_files(lake_pq)
            parquet = DuckPeer.parquet(files)
            states.append(run_state("compacted", lake, lake_pq, [duck, parquet], queries,
                                    args.repeat, f"every row in {len(files)} hourly Parquet "
                                                 f"files"))
            parquet.close()
        duck.close()
        for state in states:  # against DuckDB on the same layout: the last peer
            goals += latency_goals(state.label, state.results, state.peers[-1].label,
                                   args.target)
        print("\ningest while querying: the sender is a separate process; stored rows/s = "
              "rows stored ÷ time from the first packet until the last row was stored")
        runs = [("hot data, export off", hot, path / "hot-parquet", states[0].results,
                 ("--no-export",))]
        if not args.quick:
            runs.append(("exported data, export every 10 s", lake, lake_pq, states[-1].results,
                         ("--export-interval", "10")))
        for title, data_dir, parquet_dir, quiet, extra in runs:
            for r in run_ingest(title, data_dir, parquet_dir, quiet, queries, args, extra):
                goals.append(Goal(f"{title}, {r.label} at {fmt_count(args.rate)}/s: loss %",
                                  r.loss * 100, 0.1,
                                  note=f"{fmt_count(r.stored / r.stored_s)} rows/s stored"))
    return goals


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benches http", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 100k rows, 3 runs")
    parser.add_argument("--rows", type=int, help="rows (default 1M, 100k with --quick)")
    parser.add_argument("--span", type=float, default=3600,
                        help="seconds the rows' timestamps cover (default 3600)")
    parser.add_argument("--repeat", type=int, help="timed runs per query (default 5)")
    parser.add_argument("--rate", type=float, default=20_000,
                        help="HEP packets per second while ingesting (default 20k)")
    parser.add_argument("--ingest-seconds", type=float,
                        help="seconds of sending per ingest measurement (default 10, 3 quick)")
    parser.add_argument("--target", type=float, default=2.0,
                        help="goal: HTTP median latency ≤ this × DuckDB's (default 2)")
    parser.add_argument("--dir", help="scratch directory on a real disk")
    args = parser.parse_args(argv)
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.repeat = args.repeat or (3 if args.quick else 5)
    args.ingest_seconds = args.ingest_seconds or (3 if args.quick else 10)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    root = scratch_root(args.dir)
    print("HTTP query API benchmark (benches/http.py)")
    for line in machine_summary(root):
        print(line)
    import duckdb

    print(f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}; daemon: python -m hepserver "
          f"on 127.0.0.1, {os.cpu_count()} decoding workers")
    start = time.perf_counter()
    goals = run(args, root)
    print(f"\nrun took {time.perf_counter() - start:.0f} s")
    print("goals (set by this benchmark; the issue names none):")
    for goal in goals:
        print(goal.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
