"""The socket side of the server: one control socket (REP) handing out sessions, and one PAIR
socket per session, as nanomsg-multi did for the original server.

Each session has a receiving thread, which answers KeepAlive and Abort at once, and a worker
thread, which executes that session's requests in order; sessions run in parallel (the numba
kernels release the GIL), so a long scan of one client does not hold up another's inserts.
A session that sends nothing for `session_timeout` seconds is closed by the collector, which
looks every `gc_interval` seconds (30 s and 60 s, as the original).
"""
from __future__ import annotations

import grp
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pynng

from hyena.errors import DecodeError
from hyena.protocol import codec
from hyena.protocol import messages as m

__all__ = ["ServerConfig", "SessionServer"]

log = logging.getLogger("hyena.server")


@dataclass(frozen=True)
class ServerConfig:
    transport: str = "ipc"  # ipc | tcp | ws
    hostname: str = "*"
    port: int = 4433
    ipc_path: str = "/tmp/hyena.ipc"
    session_ipc_path: str = "/tmp"
    ipc_owner: int | None = None
    ipc_group: int | None = None
    ipc_permissions: int | None = None
    session_timeout: float = 30.0
    gc_interval: float = 60.0
    max_message: int = 1 << 30  # bytes; nng's default (1 MiB) is far too small for inserts
    send_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.transport not in ("ipc", "tcp", "ws"):
            raise ValueError("transport must be ipc, tcp or ws")
        if not 0 <= self.port <= 65535:
            raise ValueError("Port number must be between 1 and 65535")

    @property
    def bind_host(self) -> str:
        return "0.0.0.0" if self.hostname in ("*", "") else self.hostname

    @property
    def advertised_host(self) -> str:
        """The host put into session URLs: clients must be able to reach it."""
        return socket.gethostname() if self.hostname in ("*", "", "0.0.0.0") else self.hostname

    def control_url(self) -> str:
        if self.transport == "ipc":
            return f"ipc://{self.ipc_path}"
        return f"{self.transport}://{self.bind_host}:{self.port}"


class Session:
    def __init__(self, server: "SessionServer", connection_id: int, sock: pynng.Pair0, url: str,
                 path: Path | None, extensions: bool) -> None:
        self.server = server
        self.id = connection_id
        self.sock = sock
        self.url = url
        self.path = path
        self.extensions = extensions
        self.last_received = time.monotonic()
        self.jobs: queue.Queue = queue.Queue()
        self.closed = threading.Event()
        self._send_lock = threading.Lock()
        self.receiver = threading.Thread(target=self._receive, name=f"hyena-session-{self.id}",
                                         daemon=True)
        self.worker = threading.Thread(target=self._work, name=f"hyena-worker-{self.id}",
                                       daemon=True)

    def start(self) -> None:
        self.receiver.start()
        self.worker.start()

    def send(self, reply: object) -> None:
        try:
            with self._send_lock:
                self.sock.send(codec.encode_peer_reply(reply))
        except pynng.NNGException as exc:
            log.info("session %d: cannot send (%s); closing it", self.id, exc)
            self.close()

    def _receive(self) -> None:
        while not self.closed.is_set():
            try:
                data = self.sock.recv_msg().bytes
            except pynng.Timeout:
                continue
            except pynng.NNGException:
                break
            self.last_received = time.monotonic()
            try:
                message = codec.decode_peer_request(data)
            except DecodeError as exc:
                log.info("session %d: undecodable envelope: %s", self.id, exc)
                self.send(m.PeerResponse(0, m.PeerError.SERIALIZATION))
                continue
            if isinstance(message, m.PeerKeepAlive):
                self.send(m.ServerKeepAlive())
            elif isinstance(message, m.PeerAbort):
                self.send(m.PeerResponse(message.message_id, None))
            elif isinstance(message, m.PeerClose):
                self.jobs.put(None)  # replies already queued go out first
                return
            elif message.payload is None:
                self.send(m.PeerResponse(message.message_id, m.PeerError.BAD_MESSAGE))
            else:
                self.jobs.put((message.message_id, message.payload))
        self.jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                break
            message_id, payload = job
            reply = self.server.handle(payload, self.extensions)
            self.send(m.PeerResponse(message_id, reply))
        self.close()

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.jobs.put(None)
        self.sock.close()
        if self.path is not None:
            _unlink(self.path)
        self.server.forget(self)


class SessionServer:
    """Control socket + sessions; `handle(payload, extensions) -> reply bytes` does the work."""

    def __init__(self, config: ServerConfig, handle: Callable[[bytes, bool], bytes]) -> None:
        self.config = config
        self.handle = handle
        self.sessions: dict[int, Session] = {}
        self._lock = threading.Lock()
        self._next_id = 0
        self._stop = threading.Event()
        self._control: pynng.Rep0 | None = None
        self._threads: list[threading.Thread] = []
        self.url = config.control_url()

    def start(self) -> str:
        cfg = self.config
        if cfg.transport == "ipc":
            _unlink(Path(cfg.ipc_path))
        self._control = pynng.Rep0(recv_timeout=200, send_timeout=5000)
        self._control.listen(self.url)
        if cfg.transport == "ipc":
            self._permissions(Path(cfg.ipc_path))
        for target, name in ((self._serve_control, "hyena-control"),
                             (self._collect, "hyena-session-gc")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.url

    def _serve_control(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._control.recv_msg().bytes
            except pynng.Timeout:
                continue
            except pynng.NNGException:
                return
            try:
                request = codec.decode_control_request(data)
                reply = m.SocketCreated(self._open_session(request.extensions))
            except DecodeError:
                reply = m.SocketCreated(m.ControlError(m.ControlErrorKind.PEER_CONNECTION))
            except PermissionError as exc:
                log.error("cannot set session socket permissions: %s", exc)
                reply = m.SocketCreated(m.ControlError(m.ControlErrorKind.INTERNAL))
            except (pynng.NNGException, OSError) as exc:
                log.error("cannot open a session socket: %s", exc)
                reply = m.SocketCreated(m.ControlError(m.ControlErrorKind.PEER_CONNECTION))
            try:
                self._control.send(codec.encode_control_reply(reply))
            except pynng.NNGException as exc:
                log.info("control reply not sent: %s", exc)

    def _open_session(self, extensions: bool) -> tuple[int, str]:
        cfg = self.config
        with self._lock:
            self._next_id += 1
            connection_id = self._next_id
        sock = pynng.Pair0(recv_timeout=500, send_timeout=int(cfg.send_timeout * 1000),
                           recv_max_size=cfg.max_message)
        path = None
        try:
            if cfg.transport == "ipc":
                path = Path(cfg.session_ipc_path) / f"hyena-session-{connection_id}.ipc"
                _unlink(path)
                url = f"ipc://{path}"
                sock.listen(url)
                self._permissions(path)
            else:
                listener = sock.listen(f"{cfg.transport}://{cfg.bind_host}:0"
                                       + ("/hyena" if cfg.transport == "ws" else ""))
                # pynng's .port is in network byte order; its text form is right
                port = int(str(listener.local_address).rsplit(":", 1)[1])
                url = f"{cfg.transport}://{cfg.advertised_host}:{port}" + \
                    ("/hyena" if cfg.transport == "ws" else "")
        except BaseException:
            sock.close()
            if path is not None:
                _unlink(path)
            raise
        session = Session(self, connection_id, sock, url, path, extensions)
        with self._lock:
            self.sessions[connection_id] = session
        session.start()
        log.info("session %d opened at %s%s", connection_id, url,
                 " (extensions)" if extensions else "")
        return connection_id, url

    def forget(self, session: Session) -> None:
        with self._lock:
            self.sessions.pop(session.id, None)
        log.info("session %d closed", session.id)

    def _collect(self) -> None:
        """Close sessions that sent nothing (not even a KeepAlive) for session_timeout."""
        while not self._stop.wait(self.config.gc_interval):
            now = time.monotonic()
            with self._lock:
                idle = [s for s in self.sessions.values()
                        if now - s.last_received > self.config.session_timeout]
            for session in idle:
                log.info("session %d timed out", session.id)
                session.close()

    def _permissions(self, path: Path) -> None:
        cfg = self.config
        if cfg.ipc_owner is not None or cfg.ipc_group is not None:
            os.chown(path, -1 if cfg.ipc_owner is None else cfg.ipc_owner,
                     -1 if cfg.ipc_group is None else cfg.ipc_group)
        if cfg.ipc_permissions is not None:
            os.chmod(path, cfg.ipc_permissions)

    def stop(self, grace: float = 30.0) -> None:
        """Stop accepting, let requests in progress finish (up to `grace` seconds), close."""
        self._stop.set()
        if self._control is not None:
            self._control.close()
        with self._lock:
            sessions = list(self.sessions.values())
        for session in sessions:
            session.jobs.put(None)  # after the requests already received
        deadline = time.monotonic() + grace
        for session in sessions:
            session.worker.join(max(0.0, deadline - time.monotonic()))
            session.close()
        if self.config.transport == "ipc":
            _unlink(Path(self.config.ipc_path))
        for thread in self._threads:
            thread.join(1)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc)


def group_id(name: str) -> int:
    """A group given by name or number (for --ipc-group)."""
    return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
