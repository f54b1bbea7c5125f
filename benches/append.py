"""Append throughput: hyena against DuckDB, chDB, Parquet and two bare-copy ceilings.

Every system appends the same Arrow record batches (generated once, before timing; batches
reuse a template of rows and differ only in their timestamps) into a fresh directory on disk,
and its time ends when the data is durable: hyena's flush, DuckDB's CHECKPOINT, an fsync of
what Parquet and chDB wrote, msync/fdatasync for the memmap and pwrite copies. The issue's
goals are printed as PASS/MISS.

    python -m benches append                 # default run (a few minutes)
    python -m benches append --quick         # smoke run
    python -m benches append --sustained 10  # numeric appends until 10 GB, per-GB throughput
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import hyena
from benches.sipdata import (CLICKHOUSE_TYPES, DUCKDB_TYPES, HYENA_TYPES, SOURCE, T0,
                             TEMPLATE_ROWS, Workload, numeric_template, sip_template, split,
                             timestamps, workload)
from benches.common import (GB, MB, Stopwatch, current_rss, fmt_bytes, fmt_count,
                            machine_summary, memcpy_bandwidth, peak_rss, print_table,
                            reset_peak_rss, scratch_dir, scratch_root, settle, sync_tree)

# --- systems ------------------------------------------------------------------------------------

class Sink(Protocol):
    """One system under test. Only append, commit and sync are timed.

    commit: what the system does to finish an append stream (hyena's flush, DuckDB's COMMIT +
    CHECKPOINT, closing the Parquet file, finishing chDB's insert). sync: what it takes on top
    for the data to survive a power cut (nothing for systems that fsync when they commit).
    """

    label: str

    def open(self, path: Path, work: Workload) -> None: ...
    def append(self, batch: pa.RecordBatch) -> None: ...
    def commit(self) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...


def _types(field: pa.Field) -> tuple[str, str, str]:
    return HYENA_TYPES[field.type], DUCKDB_TYPES[field.type], CLICKHOUSE_TYPES[field.type]


class HyenaSink:
    """hyena.append_arrow per batch, one flush at the end (fsync + atomic commit)."""

    def __init__(self, drop_sealed_pages: bool = True) -> None:
        self.drop_sealed_pages = drop_sealed_pages
        self.label = "hyena" if drop_sealed_pages else "hyena (keep pages)"

    def open(self, path: Path, work: Workload) -> None:
        self.db = hyena.open(path, drop_sealed_pages=self.drop_sealed_pages)
        for f in work.schema:
            if f.name != "ts":
                self.db.add_column(f.name, _types(f)[0] + ("_sparse" if f.nullable else ""))

    def append(self, batch: pa.RecordBatch) -> None:
        self.db.append_arrow(SOURCE, batch)

    def commit(self) -> None:
        self.db.flush()

    def sync(self) -> None:
        pass  # flush already made everything durable

    def close(self) -> None:
        self.db.close()


class DuckDBSink:
    """An on-disk DuckDB table; each batch inserted from Arrow in one open transaction.

    One transaction matches hyena's semantics (rows visible at once, durable at the end) and
    was the fastest path measured: autocommit per batch syncs the WAL every time and
    `INSERT ... SELECT * FROM <arrow>` by replacement scan ran slightly slower than
    `from_arrow(batch).insert_into`. The Python appender is row by row. (duckdb and chdb are
    imported when used, so the other systems run without them.)
    """

    label = "DuckDB"

    def open(self, path: Path, work: Workload) -> None:
        import duckdb
        self.con = duckdb.connect(str(path / "bench.duckdb"))
        cols = ", ".join(f"{f.name} {_types(f)[1]}{'' if f.nullable else ' NOT NULL'}"
                         for f in work.schema)
        self.con.execute(f"CREATE TABLE t ({cols})")
        self.con.begin()

    def append(self, batch: pa.RecordBatch) -> None:
        self.con.from_arrow(batch).insert_into("t")

    def commit(self) -> None:
        self.con.commit()
        self.con.execute("CHECKPOINT")  # writes the table into the database file, fsynced

    def sync(self) -> None:
        pass

    def close(self) -> None:
        self.con.close()


class ChdbSink:
    """One streaming INSERT (chdb's send_insert) of Arrow IPC stream chunks into a MergeTree
    table of an on-disk session. The stream is the schema message, one message per batch,
    then the end-of-stream marker; ClickHouse parses ArrowStream incrementally."""

    label = "chDB stream"
    _EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"

    def open(self, path: Path, work: Workload) -> None:
        from chdb.session import Session
        self.path = path
        self.session = Session(str(path / "chdb"))
        cols = ", ".join(f"{f.name} " + (f"Nullable({_types(f)[2]})" if f.nullable
                                          else _types(f)[2]) for f in work.schema)
        self.session.query(f"CREATE TABLE t ({cols}) ENGINE = MergeTree ORDER BY ts")
        self.schema = work.schema
        self.inserter = None

    def append(self, batch: pa.RecordBatch) -> None:
        if self.inserter is None:
            self.inserter = self.session.send_insert("INSERT INTO t", "ArrowStream")
            self.inserter.append(memoryview(self.schema.serialize()))
        self.inserter.append(memoryview(batch.serialize()))

    def commit(self) -> None:
        if self.inserter is not None:
            self.inserter.append(self._EOS)
            self.inserter.finish()

    def sync(self) -> None:
        sync_tree(self.path)  # MergeTree parts are written without fsync by default

    def close(self) -> None:
        self.session.close()


class ParquetSink:
    """pq.ParquetWriter with zstd; write_batch per batch (each call writes its row group)."""

    label = "Parquet zstd"

    def open(self, path: Path, work: Workload) -> None:
        self.file = path / "bench.parquet"
        self.writer = pq.ParquetWriter(self.file, work.schema, compression="zstd")

    def append(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch)

    def commit(self) -> None:
        self.writer.close()

    def sync(self) -> None:
        sync_tree(self.file.parent)

    def close(self) -> None:
        pass


def raw_buffers(array: pa.Array) -> list[np.ndarray]:
    """The bytes of an (unsliced) fixed-width or string array: validity, offsets, data."""
    if array.offset:
        raise ValueError("sliced arrays are not supported")
    n = len(array)
    validity, *rest = array.buffers()
    out = [] if validity is None else [np.frombuffer(validity, np.uint8, (n + 7) // 8)]
    if pa.types.is_string(array.type):
        offsets = np.frombuffer(rest[0], np.int32, n + 1)
        out += [offsets.view(np.uint8), np.frombuffer(rest[1], np.uint8, int(offsets[-1]))]
    else:
        out.append(np.frombuffer(rest[0], np.uint8, n * array.type.bit_width // 8))
    return out


def _buffer_files(path: Path, work: Workload) -> dict[tuple[int, int], tuple[Path, int]]:
    """One fallocated file per (column, buffer) of the workload, sized for the whole run."""
    sizes: dict[tuple[int, int], int] = {}
    for batch in work.batches:
        for c, col in enumerate(batch.columns):
            for b, buf in enumerate(raw_buffers(col)):
                sizes[c, b] = sizes.get((c, b), 0) + buf.nbytes
    files = {}
    for (c, b), size in sizes.items():
        file = path / f"col{c}_{b}.bin"
        fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.posix_fallocate(fd, 0, max(size, 1))
        finally:
            os.close(fd)
        files[c, b] = (file, max(size, 1))
    return files


class MemmapSink:
    """The ceiling: each Arrow buffer copied into its own preallocated memmap, no checks.

    Files are created and fallocated for the whole run before timing; sync is msync."""

    label = "memmap copy"

    def open(self, path: Path, work: Workload) -> None:
        files = _buffer_files(path, work)
        self.maps = {key: np.memmap(file, np.uint8, "r+", shape=size)
                     for key, (file, size) in files.items()}
        self.pos = dict.fromkeys(files, 0)

    def append(self, batch: pa.RecordBatch) -> None:
        for c, col in enumerate(batch.columns):
            for b, buf in enumerate(raw_buffers(col)):
                pos = self.pos[c, b]
                np.copyto(self.maps[c, b][pos:pos + buf.nbytes], buf)
                self.pos[c, b] = pos + buf.nbytes

    def commit(self) -> None:
        pass

    def sync(self) -> None:
        for m in self.maps.values():
            m.flush()

    def close(self) -> None:
        self.maps.clear()  # unmapped once unreferenced


class PwriteSink:
    """A second ceiling, for engines that write with pwrite as hyena does: each Arrow buffer
    written to its own preallocated file (page-cache copy without page faults); sync is
    fdatasync."""

    label = "pwrite copy"

    def open(self, path: Path, work: Workload) -> None:
        files = _buffer_files(path, work)
        self.fds = {key: os.open(file, os.O_RDWR) for key, (file, _) in files.items()}
        self.pos = dict.fromkeys(files, 0)

    def append(self, batch: pa.RecordBatch) -> None:
        for c, col in enumerate(batch.columns):
            for b, buf in enumerate(raw_buffers(col)):
                self.pos[c, b] += os.pwrite(self.fds[c, b], buf, self.pos[c, b])

    def commit(self) -> None:
        pass

    def sync(self) -> None:
        for fd in self.fds.values():
            os.fdatasync(fd)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)


SYSTEMS: dict[str, Callable[[], Sink]] = {
    "hyena": HyenaSink,
    "duckdb": DuckDBSink,
    "chdb": ChdbSink,
    "parquet": ParquetSink,
    "memmap": MemmapSink,
    "pwrite": PwriteSink,
}


CEILINGS = ("memmap copy", "pwrite copy")


# --- measuring ----------------------------------------------------------------------------------

@dataclass
class Result:
    """One system appending one workload (possibly cut short by the time budget)."""

    system: str
    rows: int
    nbytes: int
    append_s: float
    commit_s: float
    sync_s: float
    peak_rss: int
    rss_growth: int  # peak minus resident memory just before the first append
    complete: bool
    runs: int = 1  # measurements this is the best of

    @property
    def seconds(self) -> float:
        return self.append_s + self.commit_s + self.sync_s

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def bytes_per_s(self) -> float:
        return self.nbytes / self.seconds

    def without_sync(self) -> float:
        """Rows/s if the system's own commit were the end (no fsync on its behalf)."""
        return self.rows / (self.append_s + self.commit_s)


def measure(sink: Sink, work: Workload, root: Path, budget_s: float) -> Result:
    """Append `work` through `sink` into a fresh directory; stop early after `budget_s`."""
    settle()
    with scratch_dir(root, sink.label.split()[0].lower()) as path:
        sink.open(path, work)
        rows = nbytes = 0
        try:
            base = current_rss()
            reset_peak_rss()
            start = time.perf_counter()
            for batch in work.batches:
                sink.append(batch)
                rows += batch.num_rows
                nbytes += batch.nbytes
                if time.perf_counter() - start > budget_s:
                    break
            appended = time.perf_counter()
            sink.commit()
            committed = time.perf_counter()
            sink.sync()
            synced = time.perf_counter()
            peak = peak_rss()
        finally:
            sink.close()
    return Result(sink.label, rows, nbytes, appended - start, committed - appended,
                  synced - committed, peak, peak - base, rows == work.rows)


def measure_systems(names: list[str], work: Workload, root: Path, budget_s: float,
                    min_s: float, max_runs: int = 3) -> list[Result]:
    """Measure every system, round-robin, repeating those that took less than `min_s` in all;
    keep each one's fastest run.

    On this kind of VM a sync or a burst of fresh page-cache pages varies by tenths of a second
    from run to run; short runs would otherwise be decided by that. Round-robin spreads such
    disturbances over all systems instead of hitting one system's repeats together."""
    best: dict[str, Result] = {}
    spent = dict.fromkeys(names, 0.0)
    runs = dict.fromkeys(names, 0)
    for _ in range(max_runs):
        for name in names:
            if runs[name] and spent[name] >= min_s:
                continue
            result = measure(SYSTEMS[name](), work, root, budget_s)
            runs[name] += 1
            spent[name] += result.seconds
            if name not in best or result.rows_per_s > best[name].rows_per_s:
                best[name] = result
    for name in names:
        best[name].runs = runs[name]
    return [best[name] for name in names]


def warm_up(root: Path) -> None:
    """Compile hyena's numba kernels (cached on disk afterwards) outside any timing."""
    for template in (sip_template(2000, payload=True), numeric_template(2000)):
        work = workload(split(template, 1000), 2000, timestamps(2000))
        measure(HyenaSink(), work, root, budget_s=60)


# --- reporting ----------------------------------------------------------------------------------

def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def report(title: str, results: list[Result]) -> None:
    """Rows/s, MB/s, phases, memory, and hyena's ratio to every other row."""
    hyena = next((r for r in results if r.system == "hyena"), None)
    rows = []
    for r in results:
        rows.append([
            r.system + ("" if r.complete else " *"), fmt_count(r.rows), r.runs,
            fmt_count(r.rows_per_s),
            f"{r.bytes_per_s / MB:.0f}", f"{r.append_s:.2f}", f"{r.commit_s:.2f}",
            f"{r.sync_s:.2f}", fmt_count(r.without_sync()), fmt_bytes(r.peak_rss),
            fmt_bytes(r.rss_growth),
            "" if hyena is None or r is hyena else _ratio(hyena.rows_per_s, r.rows_per_s),
        ])
    for ceiling in (r for r in results if r.system in CEILINGS):
        copy_rps = ceiling.rows / ceiling.append_s  # the copy alone, without the final sync
        rows.append([f"  {ceiling.system.split()[0]}, no sync", "", "", fmt_count(copy_rps),
                     f"{ceiling.nbytes / ceiling.append_s / MB:.0f}", "", "", "", "", "", "",
                     "" if hyena is None else _ratio(hyena.rows_per_s, copy_rps)])
    print_table(["system", "rows", "runs", "rows/s", "MB/s", "append s", "commit s", "sync s",
                 "rows/s w/o sync", "peak RSS", "+RSS", "hyena ÷"], rows, title)


@dataclass
class Goal:
    text: str
    achieved: float
    target: float
    note: str = ""

    @property
    def met(self) -> bool:
        return self.achieved >= self.target

    def line(self) -> str:
        verdict = "PASS" if self.met else "MISS"
        extra = f"; {self.note}" if self.note else ""
        return f"{verdict}  {self.text}: {self.achieved:.2f} (target ≥ {self.target:g}){extra}"


def _find(results: list[Result], system: str) -> Result | None:
    return next((r for r in results if r.system == system), None)


def peer_goals(variant: str, results: list[Result]) -> list[Goal]:
    """The issue's 10,000-row goals: hyena ≥ 3x DuckDB and ≥ chDB's streaming insert."""
    hy, duck, ch = (_find(results, s) for s in ("hyena", "DuckDB", "chDB stream"))
    goals = []
    if hy and duck:
        goals.append(Goal(f"{variant}, 10k batches: hyena ÷ DuckDB rows/s",
                          hy.rows_per_s / duck.rows_per_s, 3))
    if hy and ch:
        goals.append(Goal(f"{variant}, 10k batches: hyena ÷ chDB stream rows/s",
                          hy.rows_per_s / ch.rows_per_s, 1,
                          f"without fsync of chDB's parts {hy.rows_per_s / ch.without_sync():.2f}"))
    return goals


def copy_goal(batch_rows: int, hy: Result, bandwidth: float) -> Goal:
    """Numeric-only appends within 2x of memory-copy bandwidth (append phase: MB/s × 2 ≥ bw)."""
    append_bps = hy.nbytes / hy.append_s
    return Goal(f"numeric, {fmt_count(batch_rows)}-row batches: hyena append MB/s × 2 ÷ memcpy",
                2 * append_bps / bandwidth, 1,
                f"{append_bps / MB:.0f} MB/s appending, {hy.bytes_per_s / MB:.0f} MB/s with "
                f"the final flush, memcpy {bandwidth / MB:.0f} MB/s")


# --- the default run ----------------------------------------------------------------------------

VARIANTS: dict[str, Callable[[int], pa.RecordBatch]] = {
    "SIP without payload": lambda rows: sip_template(rows, payload=False),
    "SIP with payload": lambda rows: sip_template(rows, payload=True),
    "numeric-only": numeric_template,
}


def run_matrix(args: argparse.Namespace, root: Path) -> list[Goal]:
    """Every variant × batch size × system; returns the issue's goals with their outcome."""
    bandwidth = memcpy_bandwidth()
    print(f"memory copy (np.copyto, 512 MiB, best of 5): {bandwidth / GB:.2f} GB/s")
    warm_up(root)
    ts = timestamps(args.rows)
    goals: list[Goal] = []
    for variant in args.variants:
        template = VARIANTS[variant](min(args.rows, TEMPLATE_ROWS))
        for batch_rows in args.batch_sizes:
            work = workload(split(template, batch_rows), args.rows, ts)
            results = measure_systems(args.systems, work, root, args.budget, args.min_time)
            report(f"{variant}, {fmt_count(batch_rows)}-row batches: {fmt_count(work.rows)} rows, "
                   f"{work.nbytes / work.rows:.0f} B/row, {fmt_bytes(work.nbytes)}", results)
            goals += _goals(variant, batch_rows, results, bandwidth)
            del work
        del template
    return goals


def _goals(variant: str, batch_rows: int, results: list[Result], bandwidth: float) -> list[Goal]:
    hy = _find(results, "hyena")
    if variant == "numeric-only" and hy is not None:
        return [copy_goal(batch_rows, hy, bandwidth)]
    if batch_rows == 10_000 and variant.startswith("SIP"):
        return peer_goals(variant, results)
    return []


# --- sustained appends --------------------------------------------------------------------------

def _meminfo(*keys: str) -> dict[str, int]:
    """Bytes of the named /proc/meminfo fields (page cache: Cached, Dirty, Writeback)."""
    out = dict.fromkeys(keys, 0)
    with open("/proc/meminfo") as f:
        for line in f:
            name, value = line.split(":", 1)
            if name in out:
                out[name] = int(value.split()[0]) * 1024
    return out


def _batches_forever(template: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """The template again and again with increasing timestamps (one reused ts buffer: hyena
    copies what it appends before append returns)."""
    steps = timestamps(template.num_rows, start=0)
    ts = np.empty_like(steps)
    schema = pa.schema([pa.field("ts", pa.uint64(), nullable=False), *template.schema])
    base = np.uint64(T0)
    while True:
        np.add(steps, base, out=ts)
        base = ts[-1]
        yield pa.RecordBatch.from_arrays([pa.array(ts), *template.columns], schema=schema)


@dataclass
class Interval:
    """One GB of a sustained run: appending time, rows and bytes, memory at its end."""

    gigabytes: float
    seconds: float
    rows: int
    nbytes: int
    cached: int
    dirty: int
    rss: int


def sustained_run(template: pa.RecordBatch, target: int, root: Path,
                  drop_sealed_pages: bool) -> tuple[list[Interval], float, int]:
    """Append until `target` bytes of column data; (one interval per GB, flush s, rows)."""
    sink = HyenaSink(drop_sealed_pages)
    work = Workload([next(_batches_forever(template))])
    intervals: list[Interval] = []
    settle()
    with scratch_dir(root, "sustained") as path:
        sink.open(path, work)
        try:
            clock, written, rows, mark = Stopwatch(), 0, 0, GB
            last_s, last_rows, last_bytes = 0.0, 0, 0
            for batch in _batches_forever(template):
                with clock.running():
                    sink.append(batch)
                written += batch.nbytes
                rows += batch.num_rows
                if written >= mark or written >= target:
                    mem = _meminfo("Cached", "Dirty")
                    intervals.append(Interval(written / GB, clock.seconds - last_s,
                                              rows - last_rows, written - last_bytes,
                                              mem["Cached"], mem["Dirty"], current_rss()))
                    last_s, last_rows, last_bytes = clock.seconds, rows, written
                    mark += GB
                if written >= target:
                    break
            start = time.perf_counter()
            sink.commit()
            flush_s = time.perf_counter() - start
        finally:
            sink.close()
    return intervals, flush_s, rows


def sustained(args: argparse.Namespace, root: Path) -> None:
    """Throughput per GB written, to see whether it stays flat as the page cache fills."""
    target = int(args.sustained * GB)
    free = os.statvfs(root).f_bavail * os.statvfs(root).f_frsize
    if free < 1.3 * target:
        raise SystemExit(f"{root}: {fmt_bytes(free)} free, need {fmt_bytes(1.3 * target)}")
    warm_up(root)
    variant = "SIP with payload" if args.sustained_payload else "numeric-only"
    template = VARIANTS[variant](TEMPLATE_ROWS)
    drops = {"both": [True, False], "on": [True], "off": [False]}[args.sustained_drop]
    for drop in drops:
        intervals, flush_s, rows = sustained_run(template, target, root, drop)
        total_s = sum(i.seconds for i in intervals) + flush_s
        table = [[f"{i.gigabytes:.1f}", f"{i.seconds:.2f}", f"{i.nbytes / i.seconds / MB:.0f}",
                  fmt_count(i.rows / i.seconds), fmt_bytes(i.cached), fmt_bytes(i.dirty),
                  fmt_bytes(i.rss)] for i in intervals]
        print_table(["GB written", "s", "MB/s", "rows/s", "page cache", "dirty", "RSS"], table,
                    f"sustained, {variant}, 1M-row batches, drop_sealed_pages={drop}")
        print(f"total: {fmt_count(rows)} rows in {total_s:.1f} s = {fmt_count(rows / total_s)} "
              f"rows/s, {sum(i.nbytes for i in intervals) / total_s / MB:.0f} MB/s "
              f"(final flush {flush_s:.2f} s)")


# --- command line -------------------------------------------------------------------------------

def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benches append", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000,
                        help="rows per measurement (default 5,000,000)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 200,000 rows, 5 s budget per measurement")
    parser.add_argument("--budget", type=float, default=30.0,
                        help="seconds of appending after which a measurement stops early "
                             "(marked *; default 30)")
    parser.add_argument("--min-time", type=float, default=4.0,
                        help="repeat a system's measurement (up to 3 runs, fastest kept) until "
                             "this many seconds were measured (default 4)")
    parser.add_argument("--batch-sizes", default="10000,1000000",
                        help="comma-separated rows per batch (default 10000,1000000)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated subset of {','.join(SYSTEMS)}")
    parser.add_argument("--variants", default="all",
                        help="'all' or comma-separated: without-payload,payload,numeric")
    parser.add_argument("--dir", help="scratch directory on the disk to measure "
                                      "(default: the temp dir, if not tmpfs)")
    parser.add_argument("--sustained", type=float, metavar="GB",
                        help="instead: append numeric batches until GB gigabytes were written")
    parser.add_argument("--sustained-payload", action="store_true",
                        help="sustained mode with the SIP payload schema instead")
    parser.add_argument("--sustained-drop", choices=["both", "on", "off"], default="both",
                        help="drop_sealed_pages setting(s) to run in sustained mode")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.budget, args.min_time = min(args.rows, 200_000), 5.0, 0.0
    args.batch_sizes = [int(x) for x in args.batch_sizes.split(",")]
    args.systems = args.systems.split(",")
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    short = {"without-payload": "SIP without payload", "payload": "SIP with payload",
             "numeric": "numeric-only"}
    args.variants = list(VARIANTS) if args.variants == "all" else \
        [short[v] for v in args.variants.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    root = scratch_root(args.dir)
    print("append benchmark (benches/append.py)")
    for line in machine_summary(root):
        print(line)
    if args.sustained:
        sustained(args, root)
        return 0
    print(f"{fmt_count(args.rows)} rows per measurement, batches of "
          f"{', '.join(fmt_count(b) for b in args.batch_sizes)} rows; "
          f"time = append + commit + sync (durable at the end);\n* = stopped by the "
          f"{args.budget:g} s budget; runs = fastest of up to 3, until {args.min_time:g} s "
          f"were measured; hyena ÷ = hyena rows/s ÷ that row's rows/s")
    goals = run_matrix(args, root)
    print("\nissue goals:")
    for goal in goals:
        print(goal.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
