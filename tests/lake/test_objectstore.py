"""Exports on an S3 server (moto, on loopback): the bucket holds the same layout and
metadata.json as the disk, DuckDB reads it and sees exactly hyena's rows, local copies go only
after their upload, transient errors are retried and counted, lasting ones leave everything
local until the store is back, and an uploader killed mid-upload leaves nothing half-visible."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import boto3
import duckdb
import pytest

from hepserver.counters import Counters
from hepserver.export.ducklake import load_extension, s3_secret
from hepserver.export.maintenance import Maintenance, MaintenanceSettings
from hepserver.export.objectstore import ObjectStoreSettings
from hepserver.hep.decode import decode
from hepserver.hep.encode import encode_v3
from hepserver.http.query import QueryEngine
from hepserver.ingest.rows import RowBuffer
from hepserver.sip.parser import parse_sip
from tests.export.data import T0, fill, open_capture_db
from tests.lake.faulty_proxy import Fault
from tests.support import kill_at_random

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "capture"


def maintenance(db, tmp: Path, bucket: str, counters: Counters | None = None,
                **s3_options) -> Maintenance:
    s3 = ObjectStoreSettings(bucket, PREFIX, **s3_options)
    return Maintenance(db, MaintenanceSettings(tmp / "parquet", "node1", compact_settle=0.0,
                                               retention_interval=1e9, s3=s3), counters)


def bucket_keys(bucket: str) -> set[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def bucket_json(bucket: str, key: str) -> dict:
    return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def duck() -> duckdb.DuckDBPyConnection:
    """DuckDB as an analyst opens it on the bucket (httpfs, credentials from the env)."""
    con = duckdb.connect()
    load_extension(con, "httpfs")
    s3_secret(con)
    return con


def bucket_rows(bucket: str, hep_type: int, column: str = "payload") -> list:
    """The values of one column in every file the bucket's metadata.json lists."""
    meta = bucket_json(bucket, f"{PREFIX}/node1/dbs/hep-0/hep_{hep_type}-0/metadata.json")
    urls = [f"s3://{bucket}/{PREFIX}/node1/dbs/hep-0/hep_{hep_type}-0/{f['path']}"
            for f in meta["files"]]
    assert sum(f["row_count"] for f in meta["files"]) == meta["row_count"]
    if not urls:
        return []
    return [r[0] for r in duck().execute(f"SELECT {column} FROM read_parquet(?)",
                                         [urls]).fetchall()]


def check_bucket_equals_disk(bucket: str, parquet: Path) -> None:
    """Same files under the same names, the same metadata.json (less local bookkeeping)."""
    local = {str(p.relative_to(parquet)) for p in parquet.rglob("*")
             if p.is_file() and p.name.endswith((".parquet", "metadata.json"))}
    remote = {k[len(PREFIX) + 1:] for k in bucket_keys(bucket)}
    assert remote == local
    for name in (n for n in local if n.endswith("metadata.json")):
        mine = json.loads((parquet / name).read_text())
        theirs = bucket_json(bucket, f"{PREFIX}/{name}")
        assert mine.pop("pending") == [] and mine.pop("deleting") == []
        assert theirs == mine


def hyena_rows(db, hep_type: int, column: str = "payload") -> list:
    return db.scan(sources=[hep_type], columns=[column]).column(0).to_pylist()


@pytest.fixture
def capture(fast_tmp_path):
    db = open_capture_db(fast_tmp_path / "hyena", block_size=65536)
    yield db, fast_tmp_path
    db.close()


def test_bucket_holds_the_disk_layout_and_duckdb_reads_it(capture, bucket):
    db, tmp = capture
    fill(db, 4000, seed=1)
    work = maintenance(db, tmp, bucket)
    assert work.export(everything=True) == db.count()
    check_bucket_equals_disk(bucket, tmp / "parquet")
    keys = bucket_keys(bucket)
    assert all(k.startswith(f"{PREFIX}/node1/dbs/hep-0/hep_") for k in keys)
    assert any(k.endswith(".parquet") and "/2025-11-24/" in k for k in keys)
    for hep_type in (1, 5, 100):
        assert sorted(bucket_rows(bucket, hep_type)) == sorted(hyena_rows(db, hep_type))
    # later rows go up incrementally; an export with nothing new uploads nothing
    fill(db, 1000, seed=2, start_us=T0 + 4000 * 50_000)
    assert work.export(everything=True) == 1000
    uploads = work.counters["s3_uploaded_files"]
    assert work.export(everything=True) == 0
    assert work.counters["s3_uploaded_files"] == uploads
    check_bucket_equals_disk(bucket, tmp / "parquet")
    assert sorted(bucket_rows(bucket, 1)) == sorted(hyena_rows(db, 1))
    work.stop()


def test_local_copies_go_after_upload_and_queries_read_the_bucket(capture, bucket):
    db, tmp = capture
    fill(db, 3000, seed=3)
    work = maintenance(db, tmp, bucket, delete_local=True)
    work.export(everything=True)
    parquet = tmp / "parquet"
    assert not list(parquet.rglob("*.parquet"))  # uploaded, then deleted locally
    assert len(list(parquet.rglob("metadata.json"))) == 3
    assert sorted(bucket_rows(bucket, 1)) == sorted(hyena_rows(db, 1))

    # the HTTP API's engine reads exported rows from the bucket and hot ones from hyena
    fill(db, 500, seed=4, start_us=T0 + 3000 * 50_000)
    engine = QueryEngine(db, parquet, "node1", objects=work.settings.s3)
    window = "timestamp >= '2025-11-24' AND timestamp < '2025-11-26'"
    table, _ = engine.run(f"SELECT payload FROM hep_1 WHERE {window}")
    assert sorted(table.column(0).to_pylist()) == sorted(hyena_rows(db, 1))

    # compaction fetches the files back, merges them, and replaces them in the bucket
    work.export(everything=True)
    assert work.compact() > 0
    keys = bucket_keys(bucket)
    names = [k.rsplit("/", 1)[1] for k in keys if k.endswith(".parquet")]
    assert names and all(n.startswith("c_") for n in names)
    assert not list(parquet.rglob("*.parquet"))
    for hep_type in (1, 5, 100):
        assert sorted(bucket_rows(bucket, hep_type)) == sorted(hyena_rows(db, hep_type))
    table, _ = engine.run(f"SELECT count(*), count(DISTINCT payload) FROM hep_1 WHERE {window}")
    assert table.to_pylist()[0] == {"count_star()": db.count(sources=[1]),
                                    "count(DISTINCT payload)": db.count(sources=[1])}

    # retention deletes old files from the bucket too
    retained = Maintenance(db, MaintenanceSettings(parquet, "node1", retention_days=1,
                                                   s3=work.settings.s3))
    parts, files = retained.retention()
    assert parts > 0 and files > 0
    assert not [k for k in bucket_keys(bucket) if k.endswith(".parquet")]
    assert bucket_json(bucket, f"{PREFIX}/node1/dbs/hep-0/hep_1-0/metadata.json")["files"] == []
    retained.stop()
    work.stop()


def test_transient_errors_are_retried_and_counted(capture, bucket, proxy):
    db, tmp = capture
    fill(db, 2000, seed=5)
    proxy.add(Fault("PUT", r"\.parquet", "error", times=3))
    proxy.add(Fault("PUT", r"metadata\.json", "hang", times=1, seconds=3))
    counters = Counters()
    work = maintenance(db, tmp, bucket, counters, endpoint_url=proxy.url, backoff=0.05,
                       read_timeout=1.0)
    work.export(everything=True)
    assert counters["s3_retries"] >= 4  # three 500s and one time-out
    assert counters["s3_sync_failed"] == 0
    check_bucket_equals_disk(bucket, tmp / "parquet")
    assert sorted(bucket_rows(bucket, 1)) == sorted(hyena_rows(db, 1))
    work.stop()


def test_a_store_that_stays_down_keeps_everything_local_until_it_is_back(capture, bucket,
                                                                         proxy):
    db, tmp = capture
    fill(db, 2000, seed=6)
    proxy.add(Fault("*", "", "error", times=10**9))
    counters = Counters()
    work = maintenance(db, tmp, bucket, counters, endpoint_url=proxy.url, backoff=0.01,
                       attempts=3, delete_local=True)
    assert work.export(everything=True) == 2000  # the export itself succeeds
    assert counters["s3_sync_failed"] == 3 and counters["s3_failures"] >= 3
    local = list((tmp / "parquet").rglob("*.parquet"))
    assert local and not bucket_keys(bucket)  # nothing deleted, nothing half-published
    proxy.clear()
    assert work.export(everything=True) == 0  # nothing new, but the upload is owed
    assert not list((tmp / "parquet").rglob("*.parquet"))
    for hep_type in (1, 5, 100):
        assert sorted(bucket_rows(bucket, hep_type)) == sorted(hyena_rows(db, hep_type))
    work.stop()


def big_payloads(db, rows: int, seed: int) -> None:
    """SIP packets with incompressible ~1 KiB bodies, stored the way the daemon stores them,
    so that one export file needs a multipart upload (8 MiB parts)."""
    rng = random.Random(seed)
    buffer = RowBuffer()
    for i in range(rows):
        body = rng.randbytes(512).hex()
        payload = (f"MESSAGE sip:u@example.com SIP/2.0\r\nCall-ID: big-{seed}-{i}\r\n"
                   f"CSeq: 1 MESSAGE\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
        packet = decode(encode_v3(payload=payload, ts_us=T0 + i * 1000, proto_type=1,
                                  src_ip="10.0.0.1", dst_ip="10.0.0.2"), 0)
        buffer.add(packet, parse_sip(packet.payload))
    db.append_arrow(1, buffer.take())
    db.flush()


def test_uploader_killed_mid_upload_resumes_without_loss_or_duplicates(tmp_path, bucket, proxy,
                                                                       s3_server):
    data, parquet = tmp_path / "hyena", tmp_path / "parquet"
    db = open_capture_db(data)
    big_payloads(db, 24_000, seed=1)
    db.close()
    # every part upload (PUT ...&partNumber=) is held back for a while: the kill lands in it
    proxy.add(Fault("PUT", r"partNumber=", "slow", times=10**9, seconds=1.5))
    command = [sys.executable, "-m", "hepserver", "export", "--all", "--data-dir", str(data),
               "--parquet-dir", str(parquet), "--writer-id", "node1", "--s3-bucket", bucket,
               "--s3-prefix", PREFIX, "--s3-endpoint", proxy.url]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kill_at_random(command, random.Random(3), cwd=ROOT, env=env, early=0.0,
                   ready_when=lambda: proxy.requests("POST", r"\?uploads") > 0,
                   after_ready=(0.2, 0.8))
    assert proxy.requests("POST", r"\?uploads") >= 1, "the kill did not land in an upload"
    client = boto3.client("s3")
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads"), \
        "a multipart upload should be left unfinished"
    # nothing half-visible: no metadata.json yet lists an object that is not there
    keys = bucket_keys(bucket)
    for key in (k for k in keys if k.endswith("metadata.json")):
        listed = {f"{key.rsplit('/', 1)[0]}/{f['path']}"
                  for f in bucket_json(bucket, key)["files"]}
        assert listed <= keys

    proxy.clear()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    check_bucket_equals_disk(bucket, parquet)
    with open_capture_db(data) as db:
        exported = bucket_rows(bucket, 1, "call_id")
        assert len(exported) == len(set(exported)) == 24_000
        assert sorted(exported) == sorted(hyena_rows(db, 1, "call_id"))
