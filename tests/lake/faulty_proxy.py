"""An HTTP proxy in front of the test S3 server that fails requests on purpose.

Object stores fail in two ways a client must survive: an error status (500, 503 SlowDown) and
no answer in time. `FaultyProxy` forwards every request to the real server unless a `Fault`
matches it, and then answers 500 (`error`), waits past the client's read timeout before
forwarding (`hang`), or waits a while and forwards (`slow`, to hold an upload open long
enough for a test to kill the uploader in the middle of it). It records what it saw.
"""
from __future__ import annotations

import http.client
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Fault", "FaultyProxy"]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}
_S3_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
             b"<Message>injected by the test proxy</Message></Error>")


@dataclass
class Fault:
    """Fail the next `times` requests whose method and path match."""

    method: str  # "PUT", "POST", "GET", ... or "*"
    path: str  # regular expression searched in the request path (with query)
    action: str  # "error", "hang" or "slow"
    times: int = 1
    seconds: float = 0.0  # for hang and slow
    hits: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.times and self.method in ("*", method) and \
            re.search(self.path, path) is not None


class FaultyProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status) answered
        self.arrived: list[tuple[str, str]] = []  # (method, path) as requests come in
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def _match(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.arrived.append((request.command, request.path))
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        fault = self._match(request.command, request.path)
        if fault is not None and fault.action == "error":
            self._reply(request, 500, {"Content-Type": "application/xml"}, _S3_ERROR)
            return
        if fault is not None:  # hang (the client gives up first) or slow
            time.sleep(fault.seconds)
        upstream = http.client.HTTPConnection("127.0.0.1", self.target_port, timeout=60)
        try:
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in _HOP_BY_HOP}
            upstream.request(request.command, request.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            skip = _HOP_BY_HOP if request.command == "HEAD" else _HOP_BY_HOP | {"content-length"}
            self._reply(request, answer.status,
                        {k: v for k, v in answer.getheaders() if k.lower() not in skip}, data)
        finally:
            upstream.close()

    def _reply(self, request: BaseHTTPRequestHandler, status: int, headers: dict,
               data: bytes) -> None:
        with self._lock:
            self.seen.append((request.command, request.path, status))
        try:
            request.send_response(status)
            for key, value in headers.items():
                request.send_header(key, value)
            if request.command != "HEAD":
                request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            if request.command != "HEAD":
                request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a hang it timed out on)

    def requests(self, method: str, pattern: str) -> int:
        """How many requests of this method and path pattern have arrived."""
        with self._lock:
            return sum(1 for m, p in self.arrived if m == method and re.search(pattern, p))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
