"""Capture daemons as operators run them (`python -m hepserver` subprocesses on loopback),
for the multi-node tests: start, send HEP, read /metrics, query over HTTP, stop or kill."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from hepserver.hep.encode import encode_v3
from tests.lake.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def sip_packet(node: str, i: int, ts_us: int) -> bytes:
    method = ("INVITE", "REGISTER", "OPTIONS", "BYE")[i % 4]
    payload = (f"{method} sip:u{i % 7}@example.com SIP/2.0\r\nCall-ID: {node}-{i}\r\n"
               f"CSeq: {i} {method}\r\nFrom: <sip:a{i % 5}@x>;tag=t{i}\r\nTo: <sip:b@y>\r\n"
               f"Content-Length: 0\r\n\r\n").encode()
    return encode_v3(payload=payload, ts_us=ts_us, proto_type=1, src_ip="10.1.1.1",
                     dst_ip="10.2.2.2", src_port=5060, dst_port=5060, node_name=node)


class Node:
    """One capture daemon with its own data and export directories."""

    def __init__(self, root: Path, name: str, *options: str,
                 env: dict[str, str] | None = None) -> None:
        self.root, self.name, self.options = root, name, list(options)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.port, self.http_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.log = root / f"{name}.log"
        root.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 90.0) -> "Node":
        command = [sys.executable, "-m", "hepserver", "--host", "127.0.0.1",
                   "--port", str(self.port), "--http-port", str(self.http_port),
                   "--data-dir", str(self.root / "hyena"),
                   "--parquet-dir", str(self.root / "parquet"), "--writer-id", self.name,
                   "--workers", "1", "--stats-interval", "0", "--hyena-transport", "off",
                   "--flush-interval", "0.3", *self.options]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                         stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Ctrl-C to stop" in self.log.read_text():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.proc.kill()
        raise AssertionError(f"{self.name} did not start:\n{self.log.read_text()}")

    def send(self, packets: list[bytes], tcp: bool = False) -> None:
        if tcp:
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                s.sendall(b"".join(packets))
            return
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i, packet in enumerate(packets):
                s.sendto(packet, ("127.0.0.1", self.port))
                if i % 200 == 199:
                    time.sleep(0.01)  # gentle: the point here is not the socket buffer

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics",
                                    timeout=10) as reply:
            text = reply.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def query(self, sql: str) -> list[dict]:
        url = f"http://127.0.0.1:{self.http_port}/query?" + urllib.parse.urlencode({"q": sql})
        with urllib.request.urlopen(url, timeout=60) as reply:
            return json.loads(reply.read())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, self.log.read_text()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
