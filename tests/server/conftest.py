"""A live `hyena` server in a subprocess, on ipc or tcp, for each test that asks for one."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveServer:
    process: subprocess.Popen
    url: str
    data: Path
    sessions: Path

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: Path, transport: str = "ipc", *extra: str) -> LiveServer:
    data, sessions = tmp / "data", tmp / "sessions"
    sessions.mkdir(exist_ok=True)
    args = [sys.executable, "-m", "hyena.server", "-d", str(data), "-t", transport,
            "-s", str(sessions), "--no-warm-up", *extra]
    if transport == "ipc":
        url = f"ipc://{tmp}/control.ipc"
        args += ["-i", f"{tmp}/control.ipc"]
    else:
        port = free_port()
        url = f"{transport}://127.0.0.1:{port}"
        args += ["-h", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "serving" in line:
            return LiveServer(process, url, data, sessions)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"server did not start: {process.stderr.read()}")


@pytest.fixture(params=["ipc", "tcp"])
def server(request, tmp_path):
    live = start_server(tmp_path, request.param)
    yield live
    live.stop()
