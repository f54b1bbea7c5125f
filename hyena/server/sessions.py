"""The socket side of the server: one control socket (REP) handing out sessions, and one PAIR
socket per session, as nanomsg-multi did for the original server.

Each session has two threads: one reads its socket and answers KeepAlive and Abort at once,
the other runs that session's requests in order (the two swap roles so that a request is run
by the thread that read it); sessions run in parallel (the numba kernels release the GIL), so
a long scan of one client does not hold up another's inserts.
A session that sends nothing for `session_timeout` seconds is closed by the collector, which
looks every `gc_interval` seconds (30 s and 60 s, as the original).
"""
from __future__ import annotations

import grp
import logging
import os
import collections
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
from hyena.protocol.bincode import Writer
from hyena.protocol.transport import receive

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
    """One client's PAIR socket, served by two threads.

    The reading thread answers KeepAlive, Abort and bad envelopes at once and runs a request
    itself when none is running, without waking anyone: thread switches (the GIL changing
    hands) cost more than a small request. The other thread looks every TAKEOVER seconds
    whether a request has been running that long, and if so takes over the socket, so that
    KeepAlive and Abort are answered during long requests too. Requests read while one runs
    are queued and run in order by the running thread.
    """

    TAKEOVER = 0.05  # seconds

    def __init__(self, server: "SessionServer", connection_id: int, sock: pynng.Pair0, url: str,
                 path: Path | None, extensions: bool) -> None:
        self.server = server
        self.id = connection_id
        self.sock = sock
        self.url = url
        self.path = path
        self.extensions = extensions
        self.last_received = time.monotonic()
        self.closed = threading.Event()
        self._send_lock = threading.Lock()
        self._turn = threading.Condition()  # guards the five below
        self._reader: threading.Thread | None = None  # holds the socket
        self._runner: threading.Thread | None = None  # runs requests
        self._run_started = 0.0  # when the runner started its current request
        self._queue: collections.deque = collections.deque()  # read, not yet run
        self._ending = False  # no more requests are read (CloseConnection, stop, close)
        self._threads = [threading.Thread(target=self._serve, daemon=True,
                                          name=f"hyena-session-{self.id}-{k}") for k in (1, 2)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def send(self, reply: object) -> None:
        self.send_bytes(codec.encode_peer_reply(reply))

    def send_bytes(self, data: bytes) -> None:
        try:
            with self._send_lock:
                self.sock.send(data)
        except pynng.NNGException as exc:
            log.info("session %d: cannot send (%s); closing it", self.id, exc)
            self.close()

    def _serve(self) -> None:
        me = threading.current_thread()
        while self._take_socket(me):
            job = self._read_request()
            with self._turn:
                if self._reader is me:
                    self._reader = None
                if job is None:
                    self._ending = True
                    self._turn.notify_all()
                    if self._runner is not None:
                        return  # the running thread closes after the requests queued
                elif self._runner is not None:
                    self._queue.append(job)
                    continue
                else:
                    self._runner, self._run_started = me, time.monotonic()
                    self._reader = me  # and keeps the socket: nobody needs waking
            if job is None:
                self.close()
                return
            self._run(job)

    def _take_socket(self, me: threading.Thread) -> bool:
        """Become the reader: at once if nobody reads or it is us (back from a request), or
        when the reader has been running a request for TAKEOVER s. False: the session ended."""
        with self._turn:
            while not self._ending:
                busy = self._reader is not None and self._reader is self._runner
                if self._reader is None or self._reader is me or \
                        (busy and time.monotonic() - self._run_started >= self.TAKEOVER):
                    self._reader = me
                    return True
                self._turn.wait(self.TAKEOVER)
            return False

    def _read_request(self) -> tuple[int, memoryview] | None:
        """Read until a request comes (its id and payload); None when the session ends."""
        while not self._ending:
            try:
                data = receive(self.sock)
            except pynng.Timeout:
                continue
            except pynng.NNGException:
                return None
            self.last_received = time.monotonic()
            try:
                message = codec.decode_peer_request(data)
            except DecodeError as exc:
                log.info("session %d: undecodable envelope: %s", self.id, exc)
                self.send(m.PeerResponse(0, m.PeerError.SERIALIZATION))
                continue
            if isinstance(message, m.PeerRequest):
                if message.payload is not None:
                    return message.message_id, message.payload
                self.send(m.PeerResponse(message.message_id, m.PeerError.BAD_MESSAGE))
            elif isinstance(message, m.PeerKeepAlive):
                self.send(m.ServerKeepAlive())
            elif isinstance(message, m.PeerAbort):
                self.send(m.PeerResponse(message.message_id, None))
            else:  # CloseConnection: replies still due go out first
                return None
        return None

    def _run(self, job: tuple[int, memoryview]) -> None:
        """Run `job`, then whatever was queued meanwhile; close if the session ended."""
        while True:
            message_id, payload = job
            try:
                reply = self.server.handle(payload, self.extensions)
                message = codec.encode_response_message(message_id, reply)
            except Exception:  # a broken handler must not leave the session without a runner
                log.exception("session %d: request %d failed", self.id, message_id)
                message = codec.encode_peer_reply(m.PeerResponse(message_id,
                                                                 m.PeerError.UNKNOWN))
            self.send_bytes(message)
            with self._turn:
                if not self._queue or self.closed.is_set():
                    self._runner = None
                    ending = self._ending
                    if ending:
                        self._turn.notify_all()  # finish() waits for this
                    break
                job = self._queue.popleft()
                self._run_started = time.monotonic()
        if ending:
            self.close()

    def finish(self, timeout: float) -> None:
        """Stop reading; wait (up to `timeout` s) for the requests already read to be run."""
        deadline = time.monotonic() + timeout
        with self._turn:
            self._ending = True
            self._turn.notify_all()
            while self._runner is not None and not self.closed.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._turn.wait(left)

    def close(self) -> None:
        with self._turn:
            if self.closed.is_set():
                return
            self.closed.set()
            self._ending = True
            self._turn.notify_all()
        self.sock.close()
        if self.path is not None:
            _unlink(self.path)
        self.server.forget(self)


class SessionServer:
    """Control socket + sessions; `handle(payload, extensions) -> encoded reply` (bytes or an
    unjoined Writer) does the work."""

    def __init__(self, config: ServerConfig,
                 handle: Callable[[memoryview, bool], bytes | Writer]) -> None:
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
                data = receive(self._control)
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
        deadline = time.monotonic() + grace
        for session in sessions:
            session.finish(max(0.0, deadline - time.monotonic()))
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
