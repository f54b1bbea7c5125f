"""A session with a Hyena server: control socket handshake, then requests matched to replies
by message id on the session socket, with a keep-alive every 10 s (the server closes sessions
silent for 30 s).

There is no receiving thread: a thread waiting for its reply reads the socket itself (one at a
time; the others wait for the reader to hand them their replies or its turn). A request then
costs no thread switch on the client (switches, the GIL changing hands, were a good part of
a small request's round trip). Requests may be pipelined: `submit` sends at once and returns
a handle to wait on.
"""
from __future__ import annotations

import collections
import random
import threading
import time

import pynng

from hyena.errors import DecodeError, RemoteError, RequestTimeoutError, ServerGoneError
from hyena.protocol import codec
from hyena.protocol import messages as m
from hyena.protocol.transport import receive

__all__ = ["Connection", "Pending"]

KEEPALIVE_SECONDS = 10.0
POLL_MS = 100  # how often a waiting reader looks at the clock and for a lost server


class Pending:
    """A request sent and not yet answered; `result()` waits for its reply."""

    __slots__ = ("_connection", "message_id", "done", "value", "error", "deadline")

    def __init__(self, connection: "Connection", message_id: int, deadline: float) -> None:
        self._connection = connection
        self.message_id = message_id
        self.done = False
        self.value: object = None
        self.error: BaseException | None = None
        self.deadline = deadline

    def result(self) -> m.Reply:
        """The decoded reply; raises what the server or the connection raised."""
        payload = self._connection._wait(self)
        if isinstance(payload, m.PeerError):
            raise RemoteError(payload.name, "the server refused the message")
        if payload is None:
            raise RemoteError("NoData", "the server answered without a payload")
        reply = codec.decode_reply(payload)
        if isinstance(reply, m.SerializeErrorReply):
            raise RemoteError("SerializeError", reply.text)
        return reply


class Connection:
    def __init__(self, url: str, timeout: float = 60.0, max_message: int = 1 << 30) -> None:
        self.url = url
        self.timeout = timeout
        self.bytes_sent = 0  # whole messages on the session socket, envelopes included
        self.bytes_received = 0
        self._pending: dict[int, Pending] = {}
        self._pings: collections.deque[Pending] = collections.deque()
        self._state = threading.Condition()  # guards the above and _reading
        self._reading = False  # a thread is reading the socket for everyone
        self._closed = threading.Event()
        self._gone: ServerGoneError | None = None
        self.connection_id, self.session_url = self._handshake(url, timeout)
        try:
            self._sock = pynng.Pair0(dial=self.session_url, recv_timeout=POLL_MS,
                                     send_timeout=int(timeout * 1000), recv_max_size=max_message,
                                     block_on_dial=True)
        except pynng.NNGException as exc:
            raise ServerGoneError("cannot reach the session socket", url=self.session_url,
                                  error=str(exc)) from exc
        # nng keeps a dead peer's requests queued forever; learn of it from the pipe instead
        self._sock.add_post_pipe_remove_cb(lambda _pipe: self._lost())
        self._keepalive = threading.Thread(target=self._keep_alive, daemon=True,
                                           name=f"hyena-keepalive-{self.connection_id}")
        self._keepalive.start()

    @staticmethod
    def _handshake(url: str, timeout: float) -> tuple[int, str]:
        try:
            with pynng.Req0(dial=url, recv_timeout=int(timeout * 1000),
                            send_timeout=int(timeout * 1000), block_on_dial=True) as control:
                control.send(codec.encode_control_request(m.CreateSocket(extensions=True)))
                reply = codec.decode_control_reply(control.recv())
        except pynng.NNGException as exc:
            raise ServerGoneError("no Hyena server answers", url=url, error=str(exc)) from exc
        except DecodeError as exc:
            raise ServerGoneError("the server's answer is not the Hyena protocol", url=url,
                                  error=str(exc)) from exc
        if isinstance(reply.result, m.ControlError):
            raise ServerGoneError("the server could not open a session", url=url,
                                  error=reply.result.kind.name)
        return reply.result

    # --- requests --------------------------------------------------------------------------

    def request(self, message: m.Request) -> m.Reply:
        """Send one API request and wait for its reply."""
        return self.submit(message).result()

    def submit(self, message: m.Request) -> Pending:
        """Send one API request now; its reply is read when `result()` is called."""
        self._check()
        message_id = random.getrandbits(64)
        call = Pending(self, message_id, time.monotonic() + self.timeout)
        data = codec.encode_request_message(message_id, message)
        with self._state:
            self._pending[message_id] = call
        self._send(data, call)
        return call

    def ping(self) -> None:
        """A KeepAlive and the server's answer to it: a round trip of the session layer."""
        self._check()
        call = Pending(self, 0, time.monotonic() + self.timeout)
        with self._state:
            self._pings.append(call)
        self._send(codec.encode_peer_request(m.PeerKeepAlive()), call)
        self._wait(call)

    def _check(self) -> None:
        if self._closed.is_set():
            raise ServerGoneError("connection is closed", url=self.url)
        if self._gone is not None:
            raise self._gone

    def _send(self, data: bytes, call: Pending) -> None:
        try:
            self._sock.send(data)
        except pynng.NNGException as exc:
            error = ServerGoneError("the session socket failed", url=self.session_url,
                                    error=str(exc))
            with self._state:
                self._pending.pop(call.message_id, None)
            raise error from exc
        with self._state:
            self.bytes_sent += len(data)

    # --- waiting: one thread reads, the others wait for their replies ----------------------

    def _wait(self, call: Pending) -> object:
        with self._state:
            while not call.done and self._reading:
                if not self._state.wait(call.deadline - time.monotonic()):
                    if not call.done and time.monotonic() >= call.deadline:
                        self._abandon(call)
            if not call.done:
                self._reading = True
        if not call.done:
            try:
                self._read_until(call)
            finally:
                with self._state:
                    self._reading = False
                    self._state.notify_all()
        if call.error is not None:
            raise call.error
        return call.value

    def _read_until(self, call: Pending) -> None:
        while not call.done:
            if time.monotonic() >= call.deadline:
                with self._state:
                    self._abandon(call)
                return
            try:
                data = receive(self._sock)
            except pynng.Timeout:
                continue
            except pynng.NNGException as exc:
                self._fail(ServerGoneError("the session socket closed", error=str(exc)))
                return
            self.bytes_received += len(data)
            self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        try:
            reply = codec.decode_peer_reply(data)
        except DecodeError:
            return
        with self._state:
            if isinstance(reply, m.PeerResponse):
                call = self._pending.pop(reply.message_id, None)
                value = reply.result
            else:
                call = self._pings.popleft() if self._pings else None
                value = None
            if call is not None and not call.done:
                call.value = value
                call.done = True
                self._state.notify_all()

    def _abandon(self, call: Pending) -> None:
        """Give up on a call (its deadline passed); the caller holds _state."""
        self._pending.pop(call.message_id, None)
        call.error = RequestTimeoutError("no reply in time", url=self.url, timeout=self.timeout)
        call.done = True  # a ping stays queued: the server's late answer is still its own

    def _lost(self) -> None:
        if not self._closed.is_set():
            self._gone = ServerGoneError("the server closed the session", url=self.session_url)
            self._fail(self._gone)

    def _fail(self, error: Exception) -> None:
        with self._state:
            calls = list(self._pending.values()) + list(self._pings)
            self._pending.clear()
            self._pings.clear()
            for call in calls:
                if not call.done:
                    call.error = error
                    call.done = True
            self._state.notify_all()

    def _keep_alive(self) -> None:
        while not self._closed.wait(KEEPALIVE_SECONDS):
            try:
                self.ping()
            except RequestTimeoutError:
                continue  # sent all the same: that is what keeps the session
            except ServerGoneError:
                return

    def close(self) -> None:
        if self._closed.is_set():
            return
        try:
            self._sock.send(codec.encode_peer_request(m.PeerClose()))
        except pynng.NNGException:
            pass
        self._closed.set()
        self._fail(ServerGoneError("connection is closed", url=self.url))
        self._sock.close()
