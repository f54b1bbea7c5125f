"""Three capture daemons (distinct WRITER_IDs) ingest at the same time and export to one bucket
and one DuckLake (PostgreSQL catalog, s3:// data path). A fresh DuckDB that attaches the lake
sees exactly the union of their packets, each once; each node's HEPop layout in the bucket
holds its own; one node's HTTP API, pointed at the lake, answers for all of them; and a node
killed with -9 in the middle of an upload loses and repeats nothing after its restart."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import duckdb

from hepserver.export.ducklake import attach, catalog_url, load_extension, s3_secret
from tests.lake.faulty_proxy import Fault
from tests.lake.nodes import Node, sip_packet

PACKETS = 300  # per node
PREFIX = "hep"


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def lake_rows(catalog: str, data: str) -> dict[str, list[str]]:
    """Call-IDs per writer in every Homer table of the lake, from a fresh DuckDB."""
    con = duckdb.connect()
    attach(con, catalog_url(catalog), data, "lake", read_only=True)
    tables = [r[0] for r in con.execute("SHOW TABLES FROM lake").fetchall()
              if r[0].startswith("hep_proto_1_")]
    out: dict[str, list[str]] = {}
    if tables:
        sql = " UNION ALL ".join(f"SELECT writer_id, call_id FROM lake.{t}" for t in tables)
        for writer, call_id in con.execute(sql).fetchall():
            out.setdefault(writer, []).append(call_id)
    con.close()
    return out


def bucket_call_ids(bucket: str, writer: str) -> list[str]:
    """Call-IDs in the files a writer's metadata.json in the bucket lists (HEPop layout)."""
    key = f"{PREFIX}/{writer}/dbs/hep-0/hep_1-0/metadata.json"
    meta = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    urls = [f"s3://{bucket}/{PREFIX}/{writer}/dbs/hep-0/hep_1-0/{f['path']}"
            for f in meta["files"]]
    con = duckdb.connect()
    load_extension(con, "httpfs")
    s3_secret(con)
    return [r[0] for r in con.execute("SELECT call_id FROM read_parquet(?)", [urls]).fetchall()]


def test_nodes_share_one_bucket_and_lake(tmp_path, bucket, lake_db, s3_server, proxy):
    catalog, data = f"postgres:{lake_db}", f"s3://{bucket}/lake/"
    shared = ["--ducklake", catalog, "--ducklake-data", data, "--s3-bucket", bucket,
              "--s3-prefix", PREFIX, "--export-interval", "1", "--export-open-interval", "0"]
    # node-c reaches the object store through a proxy that holds every Parquet upload for a
    # while, so that it can be killed in the middle of one
    proxy.add(Fault("PUT", r"\.parquet", "slow", times=10**9, seconds=6))
    nodes = {"node-a": Node(tmp_path / "a", "node-a", *shared, "--query-lake"),
             "node-b": Node(tmp_path / "b", "node-b", *shared),
             "node-c": Node(tmp_path / "c", "node-c", *shared,
                            env={"AWS_ENDPOINT_URL": proxy.url})}
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(Node.start, nodes.values()))
        now = time.time_ns() // 1000
        sent = {}
        for k, (name, node) in enumerate(nodes.items()):
            packets = [sip_packet(name, i, now - 120_000_000 + k + 3 * i * 1000)
                       for i in range(PACKETS)]
            node.send(packets, tcp=True)  # TCP: a loaded machine may drop datagrams
            sent[name] = sorted(f"{name}-{i}" for i in range(PACKETS))

        # node-c: everything stored and committed, then killed while an upload hangs
        c = nodes["node-c"]
        wait_until(lambda: c.metrics().get("hepserver_stored", 0) >= PACKETS, 60,
                   "node-c to store its packets")
        wait_until(lambda: proxy.requests("PUT", r"\.parquet") > 0, 60,
                   "node-c to start an upload")
        time.sleep(1.0)
        c.kill()
        proxy.clear()
        c.env["AWS_ENDPOINT_URL"] = s3_server  # back on the real store
        c.start()

        found = wait_until(lambda: (rows := lake_rows(catalog, data)) and
                           all(len(rows.get(n, [])) >= PACKETS for n in nodes) and rows,
                           180, "every node's rows in the lake")
        assert {name: sorted(ids) for name, ids in found.items()} == sent  # each exactly once

        for name in nodes:  # the HEPop layout of each node in the bucket
            wait_until(lambda: len(bucket_call_ids(bucket, name)) >= PACKETS, 60,
                       f"{name}'s files in the bucket")
            assert sorted(bucket_call_ids(bucket, name)) == sent[name]

        # node-a's HTTP API reads the shared lake: all nodes, nothing twice
        window = (f"time >= to_timestamp({(now - 600_000_000) / 1e6}) AND "
                  f"time < to_timestamp({(now + 60_000_000) / 1e6})")
        answer = nodes["node-a"].query(
            f"SELECT writer_id, count(*) AS n, count(DISTINCT call_id) AS d FROM hep_1 "
            f"WHERE {window} GROUP BY writer_id ORDER BY writer_id")
        assert answer == [{"writer_id": n, "n": PACKETS, "d": PACKETS} for n in sorted(nodes)]

        # every export is a snapshot, and time travel shows the lake growing
        con = duckdb.connect()
        attach(con, catalog_url(catalog), data, "lake", read_only=True)
        counts = []
        for (version,) in con.execute("SELECT snapshot_id FROM ducklake_snapshots('lake') "
                                      "ORDER BY 1").fetchall():
            try:
                counts.append(con.execute("SELECT count(*) FROM lake.hep_proto_1_call "
                                          f"AT (VERSION => {version})").fetchone()[0])
            except duckdb.Error:  # the table did not exist yet
                counts.append(0)
        calls = sum(1 for ids in sent.values() for i in ids if int(i.rsplit("-", 1)[1]) % 4
                    in (0, 3))  # INVITE and BYE are Homer's call table
        assert counts == sorted(counts) and counts[-1] == calls
        assert any(0 < n < calls for n in counts)
        for node in nodes.values():  # and they all stop cleanly
            node.stop()
    finally:
        for node in nodes.values():
            if node.proc and node.proc.poll() is None:
                node.kill()
