"""Rules of a lake shared by several nodes (SQLite catalog; local data, or the S3 server on
loopback): rows say which node captured them, watermarks and retention are per node, a table
made by an older schema gains the columns a newer node brings, and files uploaded by an export
cut short are never added."""
from __future__ import annotations

from hepserver.export.ducklake import DuckLake
from tests.export.data import T0, fill, open_capture_db

DAY_US = 86_400 * 1_000_000


def test_nodes_keep_their_own_watermarks_and_retention(fast_tmp_path):
    catalog, data = str(fast_tmp_path / "lake.sqlite"), str(fast_tmp_path / "lake-data")
    old = open_capture_db(fast_tmp_path / "a", block_size=65536)
    new = open_capture_db(fast_tmp_path / "b", block_size=65536)
    fill(old, 1500, seed=1)  # captured on 2025-11-24
    fill(new, 1500, seed=2, start_us=T0 + 30 * DAY_US)
    a, b = DuckLake(catalog, data, "node-a"), DuckLake(catalog, data, "node-b")
    assert a.export(old, everything=True) == 1500
    assert b.export(new, everything=True) == 1500
    assert a.export(old, everything=True) == 0  # node-b's watermarks are not node-a's
    counts = dict(a.con.execute(
        "SELECT writer_id, count(*) FROM (SELECT writer_id FROM lake.hep_proto_5_default "
        "UNION ALL SELECT writer_id FROM lake.hep_proto_100_default UNION ALL "
        "SELECT writer_id FROM lake.hep_proto_1_call UNION ALL SELECT writer_id FROM "
        "lake.hep_proto_1_registration UNION ALL SELECT writer_id FROM "
        "lake.hep_proto_1_default) GROUP BY 1").fetchall())
    assert counts == {"node-a": 1500, "node-b": 1500}
    # node-b applies a cutoff after everything both captured: only its own rows go
    deleted = b.retain(T0 + 60 * DAY_US)
    assert deleted == 1500
    left = dict(a.con.execute("SELECT writer_id, count(*) FROM lake.hep_proto_5_default "
                              "GROUP BY 1").fetchall())
    assert set(left) == {"node-a"} and left["node-a"] == old.count(sources=[5])
    a.close()
    b.close()
    old.close()
    new.close()


def test_a_table_gains_the_columns_a_newer_schema_brings(fast_tmp_path):
    catalog, data = str(fast_tmp_path / "lake.sqlite"), str(fast_tmp_path / "lake-data")
    lake = DuckLake(catalog, data, "node-a")
    lake.con.execute("CREATE TABLE lake.hep_proto_5_default (timestamp TIMESTAMPTZ, "
                     "hep_type USMALLINT)")  # as an older version might have left it
    db = open_capture_db(fast_tmp_path / "a", block_size=65536)
    fill(db, 500, seed=3, types=(5,))
    assert lake.export(db, everything=True) == 500
    columns = {r[0] for r in lake.con.execute("DESCRIBE lake.hep_proto_5_default").fetchall()}
    assert {"payload", "src_ip", "writer_id", "rcinfo"} <= columns
    payloads = lake.con.execute("SELECT payload FROM lake.hep_proto_5_default").fetchall()
    assert sorted(p[0] for p in payloads) == sorted(
        db.scan(sources=[5], columns=["payload"]).column(0).to_pylist())
    lake.close()
    db.close()


def test_a_lake_in_the_bucket_takes_uploaded_files_once_even_after_a_cut_short_export(
        fast_tmp_path, bucket, monkeypatch):
    import boto3
    import pytest

    db = open_capture_db(fast_tmp_path / "hyena", block_size=65536)
    fill(db, 2500, seed=7)
    catalog, data = str(fast_tmp_path / "lake.sqlite"), f"s3://{bucket}/lake"
    lake = DuckLake(catalog, data, "node-a")
    uploads = []
    original = DuckLake._write

    def upload_then_die(self, name, piece):
        uploads.append(original(self, name, piece))
        if len(uploads) == 2:
            raise RuntimeError("killed")
        return uploads[-1]

    monkeypatch.setattr(DuckLake, "_write", upload_then_die)
    with pytest.raises(RuntimeError):
        lake.export(db, everything=True)
    monkeypatch.undo()
    orphans = {url for _, url in uploads}  # uploaded by the export that failed, never added
    assert lake.export(db, everything=True) == db.count()
    rows = sum(lake.con.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0]
               for t in lake.tables())
    assert rows == db.count()
    listed = {r[0] for t in lake.tables() for r in lake.con.execute(
        f"SELECT data_file FROM ducklake_list_files('lake', '{t}')").fetchall()}
    assert listed and all(f.startswith(f"s3://{bucket}/lake/main/hep_proto_") for f in listed)
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(
        Bucket=bucket, Prefix="lake/")["Contents"]}
    assert not orphans & listed
    assert {f"s3://{bucket}/{k}" for k in keys} == listed | orphans
    lake.close()
    db.close()
