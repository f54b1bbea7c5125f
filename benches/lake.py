"""Object storage: exports to an S3 server on loopback against the same export to local disk,
and DuckDB's q1-q6 over the bucket and over a DuckLake on it against local Parquet.

The S3 server is moto's (`moto[server]`, the one S3-compatible server installable here),
started on 127.0.0.1 by the benchmark. SIP rows in the capture schema (as benches/export.py)
are appended to hyena once; then, round-robin, each into a fresh directory and bucket:

- `local`: the daemon's export step (`Maintenance.export(everything=True)`) to disk;
- `S3`: the same step with an object store configured: the export to disk, then the mirror
  uploads every file and metadata.json (what the daemon does with `--s3-bucket`);
- `upload only`: the mirror's part alone, and `boto3 upload_file` of the same files with the
  same transfer settings (the ceiling of this server and client on loopback);
- `DuckLake`: the lake export (one transaction per partition) with its data on local disk
  and in the bucket (SQLite catalog).

    python -m benches lake            # default: 1M rows (a few minutes)
    python -m benches lake --quick    # smoke run: 100k rows
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import boto3

from benches.common import (MB, fmt_bytes, fmt_count, machine_summary, peak_rss, print_table,
                            reset_peak_rss, scratch_dir, scratch_root, settle)
from benches.export import (WRITER, Source, _answer, _timed, duckdb_sql, hyena_query, load,
                            warm_up)
from benches.sipdata import CAPTURE_SOURCE, QUERIES
from hepserver.export.catalog import TypeCatalog
from hepserver.export.ducklake import DuckLake, attach, catalog_url, load_extension, s3_secret
from hepserver.export.maintenance import Maintenance, MaintenanceSettings
from hepserver.export.objectstore import Mirror, ObjectStore, ObjectStoreSettings

PREFIX = "capture"


# --- the S3 server ------------------------------------------------------------------------------

@dataclass
class S3Server:
    process: subprocess.Popen
    endpoint: str

    def bucket(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=name)
        return name

    def drop(self, bucket: str) -> None:
        """Empty and delete a bucket, so the server's memory holds one run at a time."""
        client = boto3.client("s3")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=bucket)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def start_s3() -> S3Server:
    """moto's S3 server on a free loopback port, its endpoint and test credentials in the
    environment (as an operator's AWS_* variables would be)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        process.kill()
        raise SystemExit("moto's S3 server did not start")
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint)
    return S3Server(process, endpoint)


# --- exports ------------------------------------------------------------------------------------

@dataclass
class Result:
    system: str
    rows: int
    seconds: float
    nbytes: int  # Parquet bytes written (or uploaded)
    peak_rss: int
    runs: int = 1

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / MB


def _parquet_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*.parquet"))


def _timed_run(system: str, rows: int, work: Callable[[], int]) -> Result:
    settle()
    reset_peak_rss()
    start = time.perf_counter()
    nbytes = work()
    return Result(system, rows, time.perf_counter() - start, nbytes, peak_rss())


def export_local(source: Source, out: Path) -> Result:
    def work() -> int:
        step = Maintenance(source.db, MaintenanceSettings(out, WRITER))
        step.export(everything=True)
        step.stop()
        return _parquet_bytes(out)
    return _timed_run("local disk", source.rows, work)


def export_s3(source: Source, out: Path, s3: S3Server) -> Result:
    bucket = s3.bucket()
    try:
        def work() -> int:
            step = Maintenance(source.db, MaintenanceSettings(
                out, WRITER, s3=ObjectStoreSettings(bucket, PREFIX)))
            step.export(everything=True)
            step.stop()
            return _parquet_bytes(out)
        return _timed_run("S3 (disk, then upload)", source.rows, work)
    finally:
        s3.drop(bucket)


def _exported(source: Source, out: Path) -> TypeCatalog:
    step = Maintenance(source.db, MaintenanceSettings(out, WRITER))
    step.export(everything=True)
    step.stop()
    return TypeCatalog.open(out, WRITER, CAPTURE_SOURCE)


def upload_mirror(source: Source, out: Path, s3: S3Server) -> Result:
    """The mirror's work alone: upload the files of a finished export and its metadata.json."""
    catalog = _exported(source, out)
    bucket = s3.bucket()
    try:
        mirror = Mirror(ObjectStore(ObjectStoreSettings(bucket, PREFIX)))
        return _timed_run("upload: mirror", source.rows,
                          lambda: (mirror.sync(catalog), _parquet_bytes(out))[1])
    finally:
        s3.drop(bucket)


def upload_boto3(source: Source, out: Path, s3: S3Server) -> Result:
    """The ceiling: boto3 upload_file of the same files, same transfer settings, no
    bookkeeping."""
    catalog = _exported(source, out)
    bucket = s3.bucket()
    store = ObjectStore(ObjectStoreSettings(bucket, PREFIX))
    files = [catalog.directory / f.path for f in catalog.files]
    try:
        def work() -> int:
            for i, path in enumerate(files):
                store.client.upload_file(str(path), bucket, f"raw/{i}.parquet",
                                         Config=store.transfer)
            return sum(p.stat().st_size for p in files)
        return _timed_run("upload: boto3 upload_file", source.rows, work)
    finally:
        s3.drop(bucket)


def export_lake(source: Source, out: Path, s3: S3Server | None) -> Result:
    """The DuckLake export (SQLite catalog), data on disk or in a bucket."""
    bucket = s3.bucket() if s3 else None
    data = f"s3://{bucket}/lake/" if bucket else str(out / "lake-data")
    try:
        def work() -> int:
            lake = DuckLake(str(out / "lake.sqlite"), data, WRITER)
            lake.export(source.db, everything=True)
            lake.close()
            if bucket is None:
                return _parquet_bytes(out / "lake-data")
            pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
            return sum(o["Size"] for p in pages for o in p.get("Contents", []))
        return _timed_run(f"DuckLake, data {'in S3' if bucket else 'on disk'}", source.rows,
                          work)
    finally:
        if bucket:
            s3.drop(bucket)


def measure(systems: dict[str, Callable[[Path], Result]], root: Path, runs: int) -> list[Result]:
    """Each system `runs` times, round-robin, each into a fresh directory; the fastest run."""
    best: dict[str, Result] = {}
    for run in range(runs):
        for name, system in systems.items():
            with scratch_dir(root, "lake-out") as out:
                result = system(out)
            if name not in best or result.seconds < best[name].seconds:
                best[name] = result
            best[name].runs = run + 1
    return list(best.values())


# --- queries ------------------------------------------------------------------------------------

@dataclass
class Where:
    """One place DuckDB reads the export from: `setup` makes the view `t` on a connection."""

    name: str
    setup: Callable[["duckdb.DuckDBPyConnection"], None]  # noqa: F821


def query_places(local: Path, bucket: str, lake_catalog: Path, lake_data: str) -> list[Where]:
    catalog = TypeCatalog.open_readonly(local, WRITER, CAPTURE_SOURCE)
    local_glob = f"{catalog.directory}/**/*.parquet"
    s3_glob = f"s3://{bucket}/{PREFIX}/{WRITER}/dbs/hep-0/hep_{CAPTURE_SOURCE}-0/**/*.parquet"

    def files(glob: str) -> Callable:
        def setup(con) -> None:
            if glob.startswith("s3://"):
                load_extension(con, "httpfs")
                s3_secret(con)
            con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{glob}')")
        return setup

    def lake(con) -> None:
        attach(con, catalog_url(str(lake_catalog)), lake_data, "lake", read_only=True)
        tables = [r[0] for r in con.execute("SHOW TABLES FROM lake").fetchall()
                  if r[0].startswith(f"hep_proto_{CAPTURE_SOURCE}_")]
        con.execute("CREATE VIEW t AS " + " UNION ALL BY NAME ".join(
            f"SELECT * FROM lake.{t}" for t in tables))

    return [Where("local Parquet", files(local_glob)), Where("S3 Parquet (httpfs)",
                                                             files(s3_glob)),
            Where("DuckLake on S3", lake)]


def run_queries(source: Source, places: list[Where], repeats: int) -> list[list]:
    import duckdb

    rows, answers = [], {}
    times: dict[tuple[str, str], float] = {}
    for place in places:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        place.setup(con)
        for query in QUERIES:
            sql = duckdb_sql(query.name, source.params)

            def run(sql: str = sql, name: str = query.name) -> object:
                table = con.execute(sql).fetch_arrow_table()
                return table.column(0)[0].as_py() if name == "q1" else table

            seconds, answer = _timed(run, repeats)
            times[place.name, query.name] = seconds
            answers[place.name, query.name] = _answer(query.name, answer)
        con.close()
    for query in QUERIES:
        hyena_answer = _answer(query.name, hyena_query(source.db, query.name, source.params))
        local = times[places[0].name, query.name]
        row = [f"{query.name} {query.what.replace('method', 'sip_method')}"]
        for place in places:
            seconds = times[place.name, query.name]
            row.append(f"{seconds * 1000:.1f}")
            if place is not places[0]:
                row.append(f"{seconds / local:.2f}")
        agree = all(answers[p.name, query.name] == hyena_answer for p in places)
        rows.append(row + ["yes" if agree else "NO"])
    return rows


# --- running ------------------------------------------------------------------------------------

def report_exports(results: list[Result]) -> None:
    by = {r.system: r for r in results}
    local, s3 = by["local disk"], by["S3 (disk, then upload)"]
    raw = by["upload: boto3 upload_file"]
    lake_disk, lake_s3 = by["DuckLake, data on disk"], by["DuckLake, data in S3"]
    ratio = {"S3 (disk, then upload)": local, "upload: mirror": raw,
             "DuckLake, data in S3": lake_disk}
    rows = [[r.system, fmt_count(r.rows), r.runs, f"{r.seconds:.2f}", fmt_count(r.rows_per_s),
             f"{r.mb_per_s:.0f}", fmt_bytes(r.nbytes), fmt_bytes(r.peak_rss),
             f"{r.rows_per_s / ratio[r.system].rows_per_s:.2f} of {ratio[r.system].system}"
             if r.system in ratio else ""] for r in results]
    print_table(["export", "rows", "runs", "s", "rows/s", "MB/s", "Parquet", "peak RSS",
                 "ratio"], rows,
                "exports (MB/s = Parquet bytes written or uploaded per second; fastest run)")
    print(f"\nS3 export ÷ local export: {s3.rows_per_s / local.rows_per_s:.2f}; mirror upload ÷ "
          f"boto3 upload_file: {by['upload: mirror'].mb_per_s / raw.mb_per_s:.2f}; DuckLake "
          f"on S3 ÷ on disk: {lake_s3.rows_per_s / lake_disk.rows_per_s:.2f}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benches lake", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100,000 rows, 1 run")
    parser.add_argument("--runs", type=int, default=2, help="runs of each export, fastest kept")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per query (5)")
    parser.add_argument("--dir", help="scratch directory on the disk to measure")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.runs, args.repeats = min(args.rows, 100_000), 1, 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    root = scratch_root(args.dir)
    print("object storage benchmark (benches/lake.py)")
    for line in machine_summary(root):
        print(line)
    import duckdb
    import moto
    print(f"S3 server: moto {moto.__version__} on loopback; boto3 {boto3.__version__}, "
          f"DuckDB {duckdb.__version__}")
    s3 = start_s3()
    try:
        warm_up(root)
        with scratch_dir(root, "lake-hyena") as path:
            source = load(path / "hyena", args.rows)
            try:
                return run(args, root, source, s3)
            finally:
                source.db.close()
    finally:
        s3.stop()


def run(args: argparse.Namespace, root: Path, source: Source, s3: S3Server) -> int:
    print(f"{fmt_count(source.rows)} SIP rows in the capture schema, "
          f"{len(source.db.partitions(CAPTURE_SOURCE))} partitions; fastest of {args.runs} runs")
    systems: dict[str, Callable[[Path], Result]] = {
        "local disk": lambda out: export_local(source, out),
        "S3 (disk, then upload)": lambda out: export_s3(source, out, s3),
        "upload: mirror": lambda out: upload_mirror(source, out, s3),
        "upload: boto3 upload_file": lambda out: upload_boto3(source, out, s3),
        "DuckLake, data on disk": lambda out: export_lake(source, out, None),
        "DuckLake, data in S3": lambda out: export_lake(source, out, s3),
    }
    report_exports(measure(systems, root, args.runs))

    with scratch_dir(root, "lake-query") as out:
        bucket = s3.bucket()
        try:
            step = Maintenance(source.db, MaintenanceSettings(
                out / "parquet", WRITER, ducklake=str(out / "lake.sqlite"),
                ducklake_data=f"s3://{bucket}/lake/", s3=ObjectStoreSettings(bucket, PREFIX)))
            step.export(everything=True)
            step.stop()
            places = query_places(out / "parquet", bucket, out / "lake.sqlite",
                                  f"s3://{bucket}/lake/")
            rows = run_queries(source, places, args.repeats)
        finally:
            s3.drop(bucket)
    headers = ["query", "local ms", "S3 ms", "÷ local", "DuckLake ms", "÷ local", "agree"]
    print_table(headers, rows, "DuckDB over the same export: local Parquet, the bucket through "
                               "httpfs, the DuckLake (SQLite catalog, data in the bucket); warm "
                               f"median of {args.repeats}; agree = every place returns hyena's "
                               "answer")
    if any(r[-1] != "yes" for r in rows):
        print("MISS  some place disagrees with hyena")
    return 0

