"""tools/hep_replay.py as an operator runs it, against a live capture daemon: generated SIP
dialogs arrive over UDP and TCP and parse as SIP; files replay, with an auth key added; bad
arguments fail with a clear message."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.hepserver.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "hep_replay.py"


def replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def sent(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("transport", ["--udp", "--tcp"])
def test_generated_dialogs_arrive_and_parse_as_sip(start_daemon, transport):
    daemon = start_daemon()
    summary = sent(replay("127.0.0.1", str(daemon.ports["udp"]), transport, "--count", "600",
                          "--rate", "3000", "--node-name", "edge-7", "--json"))
    assert summary["sent"] == 600 and summary["transport"] == transport[2:]
    assert wait_for(lambda: daemon.stats().get("stored", 0) >= 600)
    stats = daemon.stats()
    assert stats["stored"] == 600 and stats.get("sip_parsed") == 600
    assert not any(k.startswith("rejected") for k in stats)
    rows = daemon.db.scan(columns=["sip_method", "sip_status", "cseq_method", "call_id",
                                   "node_name", "from_user", "sip_profile"]).to_pylist()
    assert all(r["node_name"] == "edge-7" and r["call_id"] and r["from_user"] for r in rows)
    methods = Counter(r["sip_method"] for r in rows if r["sip_method"])
    assert {"INVITE", "ACK", "BYE", "REGISTER", "OPTIONS"} <= set(methods)
    statuses = Counter(r["sip_status"] for r in rows if r["sip_status"])
    assert {100, 180, 200, 401} <= set(statuses)
    assert sum(methods.values()) + sum(statuses.values()) == 600  # each one or the other
    assert len({r["call_id"] for r in rows}) > 60  # many dialogs, interleaved
    assert {r["sip_profile"] for r in rows} == {"call", "registration", "default"}


def test_replay_a_file_with_an_auth_key(start_daemon, tmp_path):
    daemon = start_daemon(auth_key=b"s3cret")
    port = str(daemon.ports["udp"])
    capture = tmp_path / "sample.hep"
    done = replay("--count", "50", "--write", str(capture))
    assert done.returncode == 0 and "wrote 50 packets" in done.stderr
    sent(replay("127.0.0.1", port, "--file", str(capture), "--rate", "0", "--json"))
    assert wait_for(lambda: daemon.stats().get("rejected:auth", 0) == 50)
    summary = sent(replay("127.0.0.1", port, "--file", str(capture), "--auth-key", "s3cret",
                          "--count", "120", "--rate", "2000", "--json"))  # cycles the file
    assert summary["sent"] == 120
    assert wait_for(lambda: daemon.stats().get("stored", 0) == 120)
    assert daemon.stats()["rejected:auth"] == 50


def test_duration_sends_rate_times_seconds(start_daemon):
    daemon = start_daemon()
    summary = sent(replay("127.0.0.1", str(daemon.ports["udp"]), "--rate", "400",
                          "--duration", "0.5", "--json"))
    assert summary["sent"] == 200 and 0.4 < summary["seconds"] < 2.0
    assert wait_for(lambda: daemon.stats().get("stored", 0) == 200)


@pytest.mark.parametrize("args, message", [
    (["--file", "/nonexistent.hep"], "No such file"),
    (["--duration", "3", "--rate", "0"], "--duration needs a --rate above 0"),
    (["127.0.0.1", "70000"], "port must be between 1 and 65535"),
    (["--count", "0"], "--count must be at least 1"),
    (["--tcp", "127.0.0.1", "1", "--count", "1"], "cannot send to 127.0.0.1:1 over TCP"),
])
def test_bad_arguments_fail_clearly(args, message, tmp_path):
    done = replay(*args)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_not_a_hep_file(tmp_path):
    path = tmp_path / "x.hep"
    path.write_bytes(b"GET / HTTP/1.1\r\n\r\n")
    done = replay("--file", str(path))
    assert done.returncode == 2 and "not HEP" in done.stderr
