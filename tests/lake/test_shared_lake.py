"""Rules of a lake shared by several nodes, without servers (SQLite catalog, local data):
rows say which node captured them, watermarks and retention are per node, and a table made by
an older schema gains the columns a newer node brings."""
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
