"""The `hepserver` command as operators run it: starts, receives over UDP, TCP and TLS,
stops on SIGTERM after storing and flushing everything, exits 0, and a restart continues in
the same data directory."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hyena
from hepserver.hep.encode import encode_v3

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data: Path, port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hepserver", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data), "--workers", "2", "--stats-interval", "0",
         "--parquet-dir", str(data.parent / "parquet"), "--hyena-transport", "ipc",
         "--hyena-ipc-path", str(data.parent / "hyena.ipc"),
         "--hyena-session-dir", str(data.parent), *extra],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the banner goes out once the sockets are bound
        line = proc.stderr.readline()
        if "Ctrl-C to stop" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"hepserver did not start: {proc.stderr.read()}")


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def packet(n: int) -> bytes:
    return encode_v3(payload=f"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: cli-{n}\r\nCSeq: 1 OPTIONS"
                             f"\r\n\r\n".encode(), ts_us=1_764_000_000_000_000 + n)


def test_sigterm_stores_everything_and_restart_continues(tmp_path):
    data, port = tmp_path / "hyena", free_port()
    proc = start(data, port)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for n in range(500):
        udp.sendto(packet(n), ("127.0.0.1", port))
    with socket.create_connection(("127.0.0.1", port)) as tcp:
        tcp.sendall(b"".join(packet(n) for n in range(500, 800)))
    time.sleep(0.3)
    err = stop(proc)  # right away: what was received must still be stored
    assert "stored=800" in err, err
    proc = start(data, port)
    udp.sendto(packet(800), ("127.0.0.1", port))
    time.sleep(0.5)
    assert "stored=1" in stop(proc)
    with hyena.open(data) as db:
        assert db.count() == 801
        assert db.count(filters=[("call_id", "==", "cli-799")]) == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_listener(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port, tls_port = free_port(), free_port()
    proc = start(tmp_path / "hyena", port, "--tls-port", str(tls_port), "--tls-cert", str(cert),
                 "--tls-key", str(key))
    context = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(("127.0.0.1", tls_port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            for n in range(20):
                tls.sendall(packet(n))
    time.sleep(0.5)
    assert "stored=20" in stop(proc)


def test_bad_settings_fail_clearly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "hepserver", "--tls-cert", "x.pem"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "TLS needs both a certificate and a key" in done.stderr
    env = {**os.environ, "PORT": "nope"}
    done = subprocess.run([sys.executable, "-m", "hepserver"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "PORT must be an integer" in done.stderr
