"""Clients over ipc and tcp get exactly what the embedded engine gives for the same data,
several at once; the server shuts down cleanly."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import hyena
from hyena.client import connect
from hyena.errors import InvalidDataError, InvalidScanError, ServerGoneError

SCHEMA = [("port", "u16"), ("method", "string"), ("code", "u16_sparse"),
          ("addr", "u128"), ("note", "string_sparse"), ("delta", "i64_sparse")]
METHODS = ["INVITE", "BYE", "ACK", "REGISTER"]


def batch(source: int, start: int, n: int) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(source * 1000 + start)
    ts = np.arange(start, start + n, dtype=np.uint64) * 10
    return ts, {
        "port": rng.integers(0, 65536, n).astype(np.uint16),
        "method": [METHODS[k] for k in rng.integers(0, 4, n)],
        "code": [None if k % 3 else 200 + k % 300 for k in range(n)],
        "addr": [(0xFFFF << 32) | (k * 7919) for k in range(n)],
        "note": [None if k % 2 else f"n{k}" for k in range(n)],
        "delta": hyena.Sparse([-(1 << 63), (1 << 63) - 1], [0, n - 1]) if n > 1 else [None],
    }


QUERIES = [
    {},
    {"columns": ["ts", "code", "note"]},
    {"columns": ["note"]},  # only sparse columns
    {"filters": [("method", "==", "INVITE")], "columns": ["ts", "method", "port"]},
    {"filters": [[("code", ">=", 300)], [("note", "contains", "9")]]},
    {"filters": [("method", "in", ["BYE", "ACK"]), ("port", "<", 30000)]},
    {"min_ts": 500, "max_ts": 9000, "sources": [2]},
    {"filters": [("addr", "==", (0xFFFF << 32) | 7919 * 5)]},
    {"filters": [("note", "matches", "^n1.*3$")], "columns": ["note", "source"]},
]


def test_clients_match_the_embedded_engine(server, tmp_path):
    embedded = hyena.open(tmp_path / "embedded")
    with connect(server.url) as first:
        for name, ctype in SCHEMA:
            assert first.add_column(name, ctype).name == name
            embedded.add_column(name, ctype)
    errors = []

    def writer(source: int) -> None:
        try:
            with connect(server.url) as db:
                for start in range(0, 3000, 500):
                    ts, cols = batch(source, start, 500)
                    assert db.append(source, ts, cols) == 500
                db.flush()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for source in (1, 2, 3):
        for start in range(0, 3000, 500):
            ts, cols = batch(source, start, 500)
            embedded.append(source, ts, cols)
    with connect(server.url) as db:
        assert [c.name for c in db.columns] == [c.name for c in embedded.columns]
        for query in QUERIES:
            remote, local = db.scan(**query), embedded.scan(**query)
            assert remote.to_pylist() == local.to_pylist(), query
            assert remote.schema.names == local.schema.names
        assert db.count(filters=[("method", "==", "ACK")]) == \
            embedded.count(filters=[("method", "==", "ACK")])
        assert db.count(by="method") == embedded.count(by="method")
        chunks = list(db.scan_iter(row_limit=777, columns=["ts", "note"]))
        assert sum(c.num_rows for c in chunks) == 9000
        assert [r for c in chunks for r in c.to_pylist()] == \
            embedded.scan(columns=["ts", "note"]).to_pylist()
        assert {p.source for p in db.partitions()} == {1, 2, 3}
    embedded.close()


def test_bad_requests_are_errors_and_the_session_goes_on(server):
    with connect(server.url) as db:
        db.add_column("n", "i32")
        with pytest.raises(InvalidDataError):
            db.append(1, [1, 2], {"n": [1]})  # refused by the client's own validation
        with pytest.raises(InvalidScanError, match="min_ts > max_ts"):
            db.scan(min_ts=5, max_ts=1)
        with pytest.raises(InvalidScanError, match="unknown column"):
            db.scan(columns=["nope"])
        assert db.append(1, [1], {"n": [5]}) == 1
        assert db.scan(columns=["n"]).to_pylist() == [{"n": 5}]


def test_sigterm_flushes_and_removes_socket_files(tmp_path):
    from tests.server.conftest import start_server

    live = start_server(tmp_path, "ipc")
    db = connect(live.url)
    db.add_column("v", "u8")
    db.append(1, [1, 2, 3], {"v": [1, 2, 3]})  # not flushed by the client
    assert any(live.sessions.iterdir())
    code, err = live.stop()
    assert code == 0, err
    assert not (tmp_path / "control.ipc").exists() and not any(live.sessions.iterdir())
    with hyena.open(live.data) as reopened:
        assert reopened.count() == 3
    with pytest.raises(ServerGoneError):
        db.scan()


def test_no_server_is_a_clear_error(tmp_path):
    with pytest.raises(ServerGoneError, match="no Hyena server answers"):
        connect(f"ipc://{tmp_path}/nothing.ipc", timeout=1)


def test_help_shows_the_original_flags():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "hyena.server", "--help"], capture_output=True,
                          text=True, timeout=60, env={**os.environ})
    assert done.returncode == 0
    for flag in ("-d DATA_DIRECTORY, --data-directory", "-h HOSTNAME, --hostname", "-i IPC_PATH",
                 "-P IPC_PERMISSIONS", "-p PORT", "-s SESSION_IPC_PATH", "-t {ipc,tcp,ws}",
                 "-u IPC_OWNER", "-g IPC_GROUP"):
        assert flag in done.stdout, flag
