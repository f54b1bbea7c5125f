"""The HTTP API end to end: HEP sent over UDP and TCP is queryable over HTTP within seconds,
across hot and exported data without duplicates; bad requests get JSON errors with the right
status; line protocol writes; metadata, health and metrics; queries while ingesting."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pyarrow as pa
import pytest

from hepserver.hep.encode import encode_v3
from tests.hepserver.conftest import wait_for


def sip(call_id: str, method: str = "INVITE") -> bytes:
    return (f"{method} sip:bob@example.com SIP/2.0\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
            f"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\r\n").encode()


def call(base: str, path: str, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(base + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def query(base: str, sql: str, accept: str = "application/json"):
    status, headers, body = call(base, "/query?q=" + urllib.parse.quote(sql),
                                 headers={"Accept": accept})
    assert status == 200, body
    return json.loads(body) if accept == "application/json" else body


@pytest.fixture
def api(start_daemon):
    daemon = start_daemon(http_port=0, query_timeout=2.0, export_interval=3600)
    return daemon, daemon.http_url


def send_udp(daemon, packets) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for packet in packets:
        udp.sendto(packet, ("127.0.0.1", daemon.ports["udp"]))


def test_hep_is_queryable_over_http(api):
    daemon, base = api
    now = time.time_ns() // 1000
    send_udp(daemon, [encode_v3(payload=sip(f"udp-{i}"), ts_us=now - i * 1000,
                                src_ip="192.0.2.10") for i in range(40)])
    with socket.create_connection(("127.0.0.1", daemon.ports["tcp"])) as tcp:
        tcp.sendall(b"".join(encode_v3(payload=sip(f"tcp-{i}", "REGISTER"), ts_us=now - i)
                             for i in range(10)))
    assert wait_for(lambda: daemon.stats().get("stored", 0) == 50)
    rows = query(base, "SELECT count(*) AS n FROM hep_1")  # no time condition: last 10 min
    assert rows == [{"n": 50}]
    rows = query(base, "SELECT call_id, src_ip, time FROM hep_proto_1_call "
                       "WHERE call_id = 'udp-3'")
    assert len(rows) == 1 and rows[0]["src_ip"] == "192.0.2.10"
    assert query(base, "SELECT count(*) AS n FROM hep_proto_1_registration") == [{"n": 10}]
    long_ago = "2001-01-01T00:00:00"
    assert query(base, f"SELECT count(*) AS n FROM hep_1 WHERE time < '{long_ago}'") == \
        [{"n": 0}]


def test_hot_and_exported_rows_are_each_seen_once(api):
    daemon, base = api
    start = time.time_ns() // 1000 - 3_000_000
    send_udp(daemon, [encode_v3(payload=sip(f"e-{i}"), ts_us=start + i) for i in range(300)])
    assert wait_for(lambda: daemon.stats().get("stored", 0) == 300)
    daemon.maintenance.run_now()  # export every row so far
    send_udp(daemon, [encode_v3(payload=sip(f"h-{i}"), ts_us=start + 1000 + i)
                      for i in range(200)])
    assert wait_for(lambda: daemon.stats().get("stored", 0) == 500)
    rows = query(base, "SELECT call_id FROM hep_1")
    names = [r["call_id"] for r in rows]
    assert len(names) == 500 == len(set(names))
    assert daemon.stats()["exported_rows"] == 300


@pytest.mark.parametrize("sql,status,text", [
    ("DROP TABLE hep_1", 403, "read-only"),
    ("INSERT INTO x VALUES (1)", 403, "read-only"),
    ("SELECT 1; SELECT 2", 400, "exactly one"),
    ("SELEC nonsense", 400, "syntax"),
    ("SELECT * FROM read_csv('/etc/passwd')", 400, "Permission"),
    ("COPY (SELECT 1) TO '/tmp/x.csv'", 403, "read-only"),
    ("SELECT * FROM no_such_table", 400, "no_such_table"),
    ("SELECT count(*) FROM range(100000000000)", 504, "longer than"),
])
def test_bad_queries_get_json_errors(api, sql, status, text):
    _, base = api
    code, _, body = call(base, "/query", data=sql.encode())
    assert code == status, body
    error = json.loads(body)
    assert text.lower() in error["error"].lower() and error["status"] == status


def test_post_forms_and_output_formats(api):
    daemon, base = api
    send_udp(daemon, [encode_v3(payload=sip(f"f-{i}"), ts_us=time.time_ns() // 1000)
                      for i in range(5)])
    assert wait_for(lambda: daemon.stats().get("stored", 0) == 5)
    sql = "SELECT call_id FROM hep_1 ORDER BY call_id"
    code, _, body = call(base, "/query", json.dumps({"query": sql}).encode(),
                         {"Content-Type": "application/json"})
    assert code == 200 and [r["call_id"] for r in json.loads(body)] == [f"f-{i}" for i in range(5)]
    ndjson = query(base, sql, "application/x-ndjson").decode().splitlines()
    assert [json.loads(line)["call_id"] for line in ndjson] == [f"f-{i}" for i in range(5)]
    csv = query(base, sql, "text/csv").decode().splitlines()
    assert csv[0] == '"call_id"' and len(csv) == 6
    arrow = pa.ipc.open_stream(query(base, sql, "application/vnd.apache.arrow.stream"))
    assert arrow.read_all().column(0).to_pylist() == [f"f-{i}" for i in range(5)]
    code, _, body = call(base, "/query")
    assert code == 400 and "no query" in json.loads(body)["error"]
    code, _, body = call(base, "/query", b"x" * (17 * 1024 * 1024))
    assert code == 413


def test_line_protocol_write_and_query(api):
    _, base = api
    now_ns = time.time_ns()
    body = (f"cpu,host=a usage=0.25,cores=8i,ok=true {now_ns}\n"
            f"cpu,host=b usage=0.75,cores=4i,ok=false {now_ns + 1000}\n"
            "cpu this is not a line\n"
            f"mem,host=a free=123u {now_ns}\n").encode()
    code, _, reply = call(base, "/write", body)
    assert code == 207
    assert json.loads(reply) == {"stored": 3, "errors": [
        {"line": 3, "error": "expected: measurement[,tags] fields [timestamp]"}]}
    rows = query(base, "SELECT host, usage, cores, ok FROM cpu ORDER BY host")
    assert rows == [{"host": "a", "usage": 0.25, "cores": 8, "ok": True},
                    {"host": "b", "usage": 0.75, "cores": 4, "ok": False}]
    assert query(base, "SELECT free FROM mem") == [{"free": 123}]
    code, _, reply = call(base, "/write", b"cpu usage=1i\n")  # usage is a float column
    assert code == 400 and "another type" in reply.decode()


def test_metadata_health_and_metrics(api):
    daemon, base = api
    send_udp(daemon, [encode_v3(payload=sip(f"m-{i}", "REGISTER"), ts_us=time.time_ns() // 1000)
                      for i in range(7)] + [b"not a HEP packet"])
    assert wait_for(lambda: daemon.stats().get("stored", 0) == 7)
    now_ms = time.time_ns() // 1_000_000
    code, _, body = call(base, f"/api/v1/metadata/check?min_ts={now_ms - 60_000}"
                               f"&max_ts={now_ms + 1000}")
    check = json.loads(body)
    assert check["has_data"] and check["tables"]["hep_proto_1_registration"] == 7
    stats = json.loads(call(base, "/api/v1/metadata/stats")[2])
    assert stats["types"]["1"]["rows"] == 7 and stats["node"]
    code, _, body = call(base, "/health")
    assert code == 200 and json.loads(body)["status"] == "ok"
    metrics = call(base, "/metrics")[2].decode()
    assert "hepserver_stored 7" in metrics and 'hepserver_rejected{reason="bad_magic"} 1' in metrics
    assert "hepserver_export_lag_seconds" in metrics and "hepserver_hyena_rows 7" in metrics


def test_queries_while_ingesting(api):
    daemon, base = api
    stop = threading.Event()
    sent = []

    def ingest() -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        i = 0
        while not stop.is_set():
            udp.sendto(encode_v3(payload=sip(f"c-{i}"), ts_us=time.time_ns() // 1000),
                       ("127.0.0.1", daemon.ports["udp"]))
            sent.append(i)
            i += 1
            time.sleep(0.0005)

    thread = threading.Thread(target=ingest)
    thread.start()
    counts, errors = [], []

    def reader() -> None:
        for _ in range(10):
            try:
                counts.append(query(base, "SELECT count(*) AS n FROM hep_1")[0]["n"])
            except AssertionError as exc:
                errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for r in readers:
        r.start()
    for r in readers:
        r.join()
    stop.set()
    thread.join()
    assert not errors and len(counts) == 30
    assert wait_for(lambda: query(base, "SELECT count(*) AS n FROM hep_1")[0]["n"] == len(sent))
