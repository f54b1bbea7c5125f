"""The DuckLake catalog: any DuckDB can ATTACH it and see Homer's tables with exactly hyena's
rows; every export is a snapshot; time travel and retention work; exports carry on from the
watermarks the lake itself holds."""
from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pytest

from hepserver.export.ducklake import DuckLake, load_extension
from tests.export.data import T0, fill, open_capture_db


def attach(catalog: str, data: str) -> duckdb.DuckDBPyConnection:
    """A fresh DuckDB, as an analyst would open it."""
    con = duckdb.connect()
    load_extension(con, "ducklake")
    load_extension(con, "sqlite_scanner")
    con.execute(f"ATTACH 'ducklake:sqlite:{catalog}' AS lake (DATA_PATH '{data}', READ_ONLY)")
    return con


@pytest.fixture
def env(fast_tmp_path):
    db = open_capture_db(fast_tmp_path / "hyena", block_size=65536)
    yield db, fast_tmp_path
    db.close()


def test_lake_tables_equal_hyena_with_time_travel(env):
    db, tmp = env
    catalog, data = str(tmp / "lake.sqlite"), str(tmp / "lake-data")
    lake = DuckLake(catalog, data, "node1")
    fill(db, 6000, seed=1)
    assert lake.export(db, everything=True) == db.count()
    first_rtcp = db.count(sources=[5])
    version = lake.con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')"
                               ).fetchone()[0]
    fill(db, 3000, seed=2, start_us=T0 + 6000 * 50_000)
    assert lake.export(db, everything=True) == 3000
    assert lake.export(db, everything=True) == 0
    lake.close()

    con = attach(catalog, data)
    tables = {r[0] for r in con.execute("SHOW TABLES FROM lake").fetchall()}
    assert {"hep_proto_1_call", "hep_proto_1_registration", "hep_proto_1_default",
            "hep_proto_5_default", "hep_proto_100_default"} <= tables
    total = sum(con.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0]
                for t in tables if t.startswith("hep_proto_"))
    assert total == db.count()
    calls = sorted(r[0] for r in con.execute(
        "SELECT call_id FROM lake.hep_proto_1_call UNION ALL "
        "SELECT call_id FROM lake.hep_proto_1_registration UNION ALL "
        "SELECT call_id FROM lake.hep_proto_1_default").fetchall())
    assert calls == sorted(db.scan(sources=[1], columns=["call_id"]).column(0).to_pylist())
    register = con.execute("SELECT count(*) FROM lake.hep_proto_1_registration").fetchone()[0]
    assert register == db.count(filters=[("sip_method", "==", "REGISTER")])
    snapshots = con.execute("SELECT snapshot_id FROM ducklake_snapshots('lake')").fetchall()
    assert len(snapshots) >= 3
    # time travel: at the first export's snapshot the table held only the first rows
    assert con.execute(f"SELECT count(*) FROM lake.hep_proto_5_default AT (VERSION => "
                       f"{version})").fetchone()[0] == first_rtcp
    assert con.execute("SELECT count(*) FROM lake.hep_proto_5_default").fetchone()[0] == \
        db.count(sources=[5]) > first_rtcp


def test_a_new_process_continues_from_the_lake_watermarks(env):
    db, tmp = env
    catalog, data = str(tmp / "lake.sqlite"), str(tmp / "lake-data")
    fill(db, 4000, seed=3)
    first = DuckLake(catalog, data, "node1")
    first.export(db)  # sealed partitions only
    first.close()
    second = DuckLake(catalog, data, "node1")
    second.export(db, everything=True)
    assert sum(second.watermarks().values()) == db.count()
    rows = sum(second.con.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0]
               for t in second.tables())
    assert rows == db.count()
    second.close()


def test_retention_in_the_lake(env):
    db, tmp = env
    lake = DuckLake(str(tmp / "lake.sqlite"), str(tmp / "lake-data"), "node1")
    fill(db, 2000, seed=4, types=(5,))
    fill(db, 2000, seed=5, start_us=T0 + 5 * 86_400 * 1_000_000, types=(5,))
    lake.export(db, everything=True)
    deleted = lake.retain(T0 + 2 * 86_400 * 1_000_000, keep_snapshots_days=0)
    assert deleted == 2000
    assert lake.con.execute("SELECT count(*) FROM lake.hep_proto_5_default").fetchone()[0] == 2000
    lake.compact()
    lake.close()


def test_an_export_cut_short_before_its_commit_repeats_nothing_and_its_file_goes(
        env, monkeypatch):
    db, tmp = env
    catalog, data = str(tmp / "lake.sqlite"), tmp / "lake-data"
    fill(db, 3000, seed=6)
    lake = DuckLake(catalog, str(data), "node1")
    written = []
    original = DuckLake._write

    def write_then_die(self, name, piece):
        written.append(original(self, name, piece))
        if len(written) == 3:  # files on disk, the commit never comes
            raise RuntimeError("killed")
        return written[-1]

    monkeypatch.setattr(DuckLake, "_write", write_then_die)
    with pytest.raises(RuntimeError):
        lake.export(db, everything=True)
    monkeypatch.undo()
    orphans = {path for _, path in written}
    listed = {r[0] for t in lake.tables() for r in lake.con.execute(
        f"SELECT data_file FROM ducklake_list_files('lake', '{t}')").fetchall()}
    assert all(Path(p).exists() for p in orphans) and not orphans & listed

    assert lake.export(db, everything=True) == db.count()  # from the last committed watermark
    lake.close()
    con = attach(catalog, str(data))
    total = sum(con.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0]
                for t in ("hep_proto_1_call", "hep_proto_1_registration",
                          "hep_proto_1_default", "hep_proto_5_default",
                          "hep_proto_100_default"))
    assert total == db.count()
    con.close()

    old = time.time() - 2 * 86_400  # orphans older than a day are removed by retention
    for path in orphans:
        os.utime(path, (old, old))
    lake = DuckLake(catalog, str(data), "node1")
    lake.retain(0)
    assert not any(Path(p).exists() for p in orphans)
    rows = sum(lake.con.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0]
               for t in lake.tables())
    assert rows == db.count()
    lake.close()
