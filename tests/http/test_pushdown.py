"""The query engine reads hot rows only as far as a query needs (columns, pushed conditions):
its answers must equal DuckDB's over every row in the export's form, for queries whose
conditions are pushed, partly pushed or not at all, over hot, partly exported and exported
partitions. And plan.py must fall back to every column whenever a query can read columns it
does not name."""
from __future__ import annotations

import duckdb
import pytest

from hepserver.export.catalog import TypeCatalog
from hepserver.export.exporter import Exporter, ExportSettings
from hepserver.export.table import export_table
from hepserver.http.plan import plan_query
from hepserver.http.query import QueryEngine
from tests.export.data import T0, fill, open_capture_db

WINDOW = "time >= '2025-11-24T15:00:00+00:00' AND time < '2025-11-24T18:00:00+00:00'"


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """A capture db (small blocks: many partitions) whose first rows are exported, one
    partition partly; and a DuckDB reference with every row in the export's form."""
    tmp = tmp_path_factory.mktemp("pushdown")
    db = open_capture_db(tmp / "hyena", block_size=4096)
    fill(db, 700, seed=1)
    Exporter(db, ExportSettings(tmp / "parquet", "node1")).export(everything=True)
    fill(db, 900, seed=2, start_us=T0 + 700 * 50_000)
    reference = duckdb.connect()
    reference.register("exported", export_table(db.scan(sources=[1]), 1))
    reference.execute("CREATE TABLE rows AS SELECT *, timestamp AS time FROM exported")
    reference.execute("CREATE VIEW hep_1 AS SELECT * FROM rows")
    for profile in ("call", "registration"):
        reference.execute(f"CREATE VIEW hep_proto_1_{profile} AS SELECT * FROM rows "
                          f"WHERE sip_profile = '{profile}'")
    reference.execute("CREATE VIEW hep_proto_1_default AS SELECT * FROM rows "
                      "WHERE sip_profile IS NULL OR sip_profile = 'default'")
    engine = QueryEngine(db, tmp / "parquet", "node1")
    done = TypeCatalog.open_readonly(tmp / "parquet", "node1", 1).partitions
    exported = [done.get(str(p.id), 0) / p.rows for p in db.partitions(1)]
    assert exported[0] == 1 and 0 < max(exported[1:]) < 1 and exported[-1] == 0
    yield engine, reference, db
    db.close()


QUERIES = [
    "SELECT count(*) FROM hep_1 WHERE {w} AND sip_method = 'INVITE'",
    "SELECT time, call_id FROM hep_1 WHERE {w} AND call_id IN ('s1-3', 's2-707', 's2-1500')",
    "SELECT call_id FROM hep_1 WHERE {w} AND call_id = 's2-801'",
    "SELECT from_user FROM hep_1 WHERE {w} AND from_user LIKE 'a1%'",
    "SELECT from_user FROM hep_1 WHERE {w} AND from_user LIKE '%1'",
    "SELECT from_user FROM hep_1 WHERE {w} AND from_user LIKE '%a%1%'",
    "SELECT from_user FROM hep_1 WHERE {w} AND from_user LIKE 'a_'",
    "SELECT from_user FROM hep_1 WHERE {w} AND starts_with(from_user, 'a1')",
    "SELECT count(*) FROM hep_1 WHERE {w} AND contains(call_id, '-7')",
    "SELECT src_ip, call_id FROM hep_1 WHERE {w} AND src_ip = '10.3.0.1'",
    "SELECT src_ip FROM hep_1 WHERE {w} AND src_ip IN ('2001:db8::5', '10.4.0.1', '10.900.0.1')",
    "SELECT count(*) FROM hep_1 WHERE {w} AND src_ip = '::ffff:10.3.0.1'",
    "SELECT src_ip_v4 FROM hep_1 WHERE {w} AND src_ip_v4 BETWEEN 167969024 AND 168099840",
    "SELECT count(*) FROM hep_1 WHERE {w} AND src_ip_v4 > 168099840",
    "SELECT count(*) FROM hep_1 WHERE {w} AND src_ip_v4 < 0",
    "SELECT count(*) FROM hep_1 WHERE {w} AND src_ip_v4 IN (167969025, 1)",
    "SELECT count(*) FROM hep_1 WHERE {w} AND 5061 <= src_port",
    "SELECT src_port, count(*) FROM hep_1 WHERE {w} AND src_port IN (5060, 5062) GROUP BY 1",
    "SELECT count(*) FROM hep_1 WHERE {w} AND src_port <> 5060 AND cseq_num BETWEEN 10 AND 900",
    "SELECT count(*) FROM hep_1 WHERE {w} AND (sip_method = 'INVITE' OR sip_method = 'BYE')",
    "SELECT count(*) AS n, count_if(sip_method = 'INVITE') AS invites FROM hep_1 WHERE {w}",
    "SELECT sip_method = 'INVITE' AS invite, count(*) FROM hep_1 WHERE {w} GROUP BY 1",
    "SELECT * FROM hep_1 WHERE {w} AND call_id = 's1-5'",
    "SELECT h FROM hep_1 h WHERE {w} AND h.cseq_num < 20",
    "SELECT rcinfo, src_ip_raw, dst_ip_v4, hep_type FROM hep_1 WHERE {w} AND cseq_num < 60",
    "SELECT count(*) FROM hep_proto_1_call WHERE {w} AND sip_method = 'INVITE'",
    "SELECT sip_method, count(*) FROM hep_proto_1_default WHERE {w} GROUP BY 1",
    "SELECT count(*) FROM hep_proto_1_registration WHERE {w} AND from_user = 'a3'",
    "SELECT call_id FROM hep_1 WHERE {w} AND call_id IN "
    "(SELECT call_id FROM hep_1 WHERE {w} AND sip_method = 'BYE')",
    "SELECT (SELECT count(*) FROM hep_1 WHERE {w}) AS total, call_id FROM hep_1 "
    "WHERE {w} AND call_id = 's2-900'",
    "WITH x AS (SELECT * FROM hep_1 WHERE {w}) SELECT count(*) FROM x WHERE from_user = 'a3'",
    "SELECT CALL_ID, \"From_User\" FROM HEP_1 WHERE {w} AND SIP_METHOD = 'BYE'",
    "SELECT count(*) FROM hep_1 a JOIN hep_proto_1_call b USING (call_id) "
    "WHERE a.time >= '2025-11-24T15:00:00+00:00' AND a.time < '2025-11-24T18:00:00+00:00'",
    "SELECT sip_method, count(*) FROM hep_1 WHERE {w} AND sip_method = 'REGISTER' "
    "GROUP BY ALL ORDER BY ALL",
]


def _rows(table) -> list:
    return sorted(map(repr, table.to_pylist()))


@pytest.mark.parametrize("sql", QUERIES)
def test_answers_equal_duckdb_over_every_row(engines, sql):
    engine, reference, _ = engines
    sql = sql.format(w=WINDOW)
    got, _ = engine.run(sql)
    assert _rows(got) == _rows(reference.execute(sql).to_arrow_table())


def test_plain_queries_read_few_columns_and_push_their_conditions(engines, monkeypatch):
    engine, _, db = engines
    calls = []
    scan = db.scan
    monkeypatch.setattr(db, "scan", lambda **kw: calls.append(kw) or scan(**kw))
    engine.run(f"SELECT time, from_user FROM hep_1 WHERE {WINDOW} AND from_user LIKE '%a1%' "
               f"AND src_ip IN ('10.3.0.1') AND src_ip_v4 >= 0")
    (call,) = [c for c in calls if c.get("partitions")]
    assert set(call["columns"]) == {"ts", "from_user", "src_ip"}
    mapped = 0xFFFF << 32
    assert call["filters"] == [("from_user", "contains", "a1"),
                               ("src_ip", "in", [mapped | 0x0A030001]),
                               ("src_ip", ">=", mapped), ("src_ip", "<=", mapped | 0xFFFFFFFF)]
    calls.clear()
    engine.run(f"SELECT count(*) FROM hep_1 WHERE {WINDOW} AND sip_method = 'INVITE' "
               f"OR call_id = 'x'")
    (call,) = [c for c in calls if c.get("partitions")]
    assert call["filters"] is None and set(call["columns"]) == {"ts", "sip_method", "call_id"}


@pytest.mark.parametrize("sql", [
    "SELECT * FROM hep_1", "SELECT * EXCLUDE (payload) FROM hep_1", "SELECT h.* FROM hep_1 h",
    "SELECT COLUMNS('sip_.*') FROM hep_1", "SELECT struct_pack(*) FROM hep_1",
    "SELECT h FROM hep_1 h", "SELECT hep_1 FROM hep_1", "SELECT a FROM hep_1 h(a)",
    "SELECT #1 FROM hep_1", "SELECT count(*) FROM hep_1 NATURAL JOIN hep_5",
    "SUMMARIZE hep_1", "FROM hep_1", "SELECT * FROM query_table('hep_1')",
    "SELECT 2 * 3 FROM hep_1", "UNPIVOT hep_1 ON sip_method INTO NAME n VALUE v",
    "SELECT E'\\'', struct_pack(*) FROM hep_1 -- '",
    "SELECT nonsense FROM",
])
def test_plans_fall_back_to_every_column(sql):
    assert plan_query(duckdb.connect(), sql, {"hep_1", "hep_5"}).columns is None


@pytest.mark.parametrize("sql, conditions", [
    ("SELECT call_id FROM hep_1 WHERE call_id = 'a''b' AND 5 < sip_status",
     [("call_id", "==", "a'b"), ("sip_status", ">", 5)]),
    ("SELECT count(*) FROM hep_1 h WHERE h.from_user LIKE 'a%b%c' AND cseq_num BETWEEN 1 AND 9",
     [("from_user", "starts_with", "a"), ("from_user", "contains", "b"),
      ("from_user", "ends_with", "c"), ("cseq_num", ">=", 1), ("cseq_num", "<=", 9)]),
    ("SELECT count(*) FROM hep_1 WHERE x = 1 OR y = 2", []),
    ("SELECT count(*) FROM hep_1 WHERE NOT (x = 1)", [("x", "!=", 1)]),  # as DuckDB reads it
    ("SELECT count(*) FROM hep_1 WHERE NOT (x = 1 OR y = 2) AND NOT x", []),
    ("SELECT x = 1 FROM hep_1", []),
    ("SELECT count(*) FROM hep_1 WHERE x LIKE 'a_b' AND y NOT IN (1) AND z ILIKE 'q'", []),
    ("SELECT count(*) FROM hep_1 WHERE x = 1.5 AND y = NULL AND z = TIMESTAMP '2025-01-01'", []),
    ("SELECT count(*) FROM hep_1 WHERE x IN (1, 'a')", []),
    ("SELECT count(*) FROM hep_1 a, hep_5 b WHERE a.x = 1", []),
    ("SELECT count(*) FROM hep_1 WHERE x IN (SELECT x FROM hep_5) AND y = 1", []),
    ("SELECT count(*) FROM hep_1 USING SAMPLE 10 WHERE x = 1", []),
    ("WITH c AS (SELECT 1) SELECT count(*) FROM hep_1 WHERE x = 1", []),
    ("SELECT count(*) FROM hep_1 WHERE x = 1 UNION ALL SELECT count(*) FROM hep_1", []),
])
def test_conditions_only_from_the_where_of_plain_queries(sql, conditions):
    plan = plan_query(duckdb.connect(), sql, {"hep_1", "hep_5"})
    assert plan.conditions.get("hep_1", []) == conditions


def test_columns_added_later_are_read(fast_tmp_path):
    db = open_capture_db(fast_tmp_path / "hyena")
    fill(db, 20, seed=3, types=(1,))
    engine = QueryEngine(db, fast_tmp_path / "parquet", "node1")
    assert engine.run(f"SELECT count(*) AS n FROM hep_1 WHERE {WINDOW}")[0].to_pylist() == \
        [{"n": 20}]
    db.add_column("site", "string_sparse")
    db.append(1, [T0 + 5], {"site": ["fra"], "ip_family": [2], "ip_proto": [17],
                            "src_ip": [0], "dst_ip": [0], "src_port": [1], "dst_port": [2],
                            "hep_version": [3], "payload": ["x"]})
    rows, _ = engine.run(f"SELECT site, count(*) AS n FROM hep_1 WHERE {WINDOW} AND "
                         f"site = 'fra' GROUP BY site")
    assert rows.to_pylist() == [{"site": "fra", "n": 1}]
    rows, _ = engine.run(f"SELECT site FROM hep_1 WHERE {WINDOW} AND time < '2000-01-01'")
    assert rows.column_names == ["site"] and rows.num_rows == 0
    db.close()
