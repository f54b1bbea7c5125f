"""A session with a Hyena server: control socket handshake, then requests matched to replies
by message id on the session socket, with a keep-alive every 10 s (the server closes sessions
silent for 30 s)."""
from __future__ import annotations

import random
import threading
from concurrent.futures import Future

import pynng

from hyena.errors import DecodeError, RemoteError, RequestTimeoutError, ServerGoneError
from hyena.protocol import codec
from hyena.protocol import messages as m

__all__ = ["Connection"]

KEEPALIVE_SECONDS = 10.0


class Connection:
    def __init__(self, url: str, timeout: float = 60.0, max_message: int = 1 << 30) -> None:
        self.url = url
        self.timeout = timeout
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
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
        self.connection_id, self.session_url = reply.result
        try:
            self._sock = pynng.Pair0(dial=self.session_url, recv_timeout=500,
                                     send_timeout=int(timeout * 1000), recv_max_size=max_message,
                                     block_on_dial=True)
        except pynng.NNGException as exc:
            raise ServerGoneError("cannot reach the session socket", url=self.session_url,
                                  error=str(exc)) from exc
        self._gone: ServerGoneError | None = None
        # nng keeps a dead peer's requests queued forever; learn of it from the pipe instead
        self._sock.add_post_pipe_remove_cb(lambda _pipe: self._lost())
        self._receiver = threading.Thread(target=self._receive, daemon=True,
                                          name=f"hyena-client-{self.connection_id}")
        self._receiver.start()
        self._keepalive = threading.Thread(target=self._keep_alive, daemon=True,
                                           name=f"hyena-keepalive-{self.connection_id}")
        self._keepalive.start()

    def request(self, message: m.Request) -> m.Reply:
        """Send one API request and wait for its reply."""
        if self._closed.is_set():
            raise ServerGoneError("connection is closed", url=self.url)
        if self._gone is not None:
            raise self._gone
        message_id = random.getrandbits(64)
        future: Future = Future()
        with self._lock:
            self._pending[message_id] = future
        try:
            self._sock.send(codec.encode_peer_request(
                m.PeerRequest(message_id, codec.encode_request(message))))
            payload = future.result(self.timeout)
        except TimeoutError:
            raise RequestTimeoutError("no reply in time", url=self.url,
                                      timeout=self.timeout) from None
        except pynng.NNGException as exc:
            raise ServerGoneError("the session socket failed", url=self.session_url,
                                  error=str(exc)) from exc
        finally:
            with self._lock:
                self._pending.pop(message_id, None)
        if isinstance(payload, m.PeerError):
            raise RemoteError(payload.name, "the server refused the message")
        if payload is None:
            raise RemoteError("NoData", "the server answered without a payload")
        reply = codec.decode_reply(payload)
        if isinstance(reply, m.SerializeErrorReply):
            raise RemoteError("SerializeError", reply.text)
        return reply

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv_msg().bytes
            except pynng.Timeout:
                continue
            except pynng.NNGException as exc:
                self._fail(ServerGoneError("the session socket closed", error=str(exc)))
                return
            try:
                reply = codec.decode_peer_reply(data)
            except DecodeError:
                continue
            if isinstance(reply, m.PeerResponse):
                with self._lock:
                    future = self._pending.get(reply.message_id)
                if future is not None and not future.done():
                    future.set_result(reply.result)

    def _lost(self) -> None:
        if not self._closed.is_set():
            self._gone = ServerGoneError("the server closed the session", url=self.session_url)
            self._fail(self._gone)

    def _fail(self, error: Exception) -> None:
        with self._lock:
            pending = list(self._pending.values())
        for future in pending:
            if not future.done():
                future.set_exception(error)

    def _keep_alive(self) -> None:
        while not self._closed.wait(KEEPALIVE_SECONDS):
            try:
                self._sock.send(codec.encode_peer_request(m.PeerKeepAlive()))
            except pynng.NNGException:
                return

    def close(self) -> None:
        if self._closed.is_set():
            return
        try:
            self._sock.send(codec.encode_peer_request(m.PeerClose()))
        except pynng.NNGException:
            pass
        self._closed.set()
        self._receiver.join(2)
        self._sock.close()
