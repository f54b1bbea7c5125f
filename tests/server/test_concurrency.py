"""Requests in flight: a session answers KeepAlive while a long request runs and runs its
requests in order; one client connection shared by threads, pipelined appends, timeouts."""
from __future__ import annotations

import threading
import time

import numpy as np
import pynng
import pytest

from hyena.client import connect
from hyena.client.connection import Connection
from hyena.errors import RequestTimeoutError
from hyena.protocol import codec
from hyena.protocol import messages as m
from hyena.server.sessions import ServerConfig, SessionServer
from tests.server.test_sessions import raw_session


@pytest.fixture
def slow_server(tmp_path):
    """An in-process session server whose Flush takes a second; it records the order."""
    order: list[int] = []

    def handle(payload, extensions):
        request = codec.decode_request(payload)
        if isinstance(request, m.Flush):
            time.sleep(1.0)
        order.append(request.TAG)
        return codec.reply_writer(m.FlushReply() if isinstance(request, m.Flush)
                                  else m.ListColumnsReply(()))

    server = SessionServer(ServerConfig(ipc_path=str(tmp_path / "control.ipc"),
                                        session_ipc_path=str(tmp_path)), handle)
    server.start()
    yield server, order
    server.stop(grace=5)


def test_keepalive_is_answered_during_a_long_request_and_requests_keep_their_order(
        slow_server):
    server, order = slow_server
    _, sock = raw_session(server.url)
    for message_id, request in ((1, m.Flush()), (2, m.ListColumns()), (3, m.ListColumns())):
        sock.send(codec.encode_request_message(message_id, request))
    time.sleep(0.2)  # the Flush is running
    began = time.monotonic()
    sock.send(codec.encode_peer_request(m.PeerKeepAlive()))
    assert codec.decode_peer_reply(sock.recv()) == m.ServerKeepAlive()
    assert time.monotonic() - began < 0.5  # not after the Flush
    replies = [codec.decode_peer_reply(sock.recv()) for _ in range(3)]
    assert [r.message_id for r in replies] == [1, 2, 3]
    assert order == [m.Flush.TAG, m.ListColumns.TAG, m.ListColumns.TAG]
    sock.close()


def test_stop_answers_the_requests_already_read(slow_server):
    server, order = slow_server
    _, sock = raw_session(server.url)
    sock.send(codec.encode_request_message(1, m.Flush()))
    sock.send(codec.encode_request_message(2, m.ListColumns()))
    time.sleep(0.2)
    server.stop(grace=5)
    assert [codec.decode_peer_reply(sock.recv()).message_id for _ in range(2)] == [1, 2]
    sock.close()


def test_threads_share_one_connection_and_appends_can_be_pipelined(server):
    with connect(server.url) as db:
        db.add_column("v", "u32")
        errors = []

        def work(source: int) -> None:
            try:
                for k in range(20):
                    ts = np.arange(k * 10, k * 10 + 10, dtype=np.uint64)
                    assert db.append(source, ts, {"v": ts.astype(np.uint32)}) == 10
                    db.connection.ping()
                    assert [c.name for c in db.columns][-1] == "v"
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2, 3, 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        sent = db.connection.bytes_sent
        pending = [db.append(5, [k], {"v": [k]}, wait=False) for k in range(50)]
        assert [p.result() for p in pending] == [1] * 50
        assert db.connection.bytes_sent > sent and db.connection.bytes_received > 0
        with pytest.raises(ValueError):
            db.append(5, [1], {"v": [1]}, durable=True, wait=False)
        assert db.count() == 4 * 200 + 50
        assert db.scan(sources=[5], columns=["v"]).column("v").to_pylist() == list(range(50))


def test_a_server_that_does_not_answer_times_out(tmp_path):
    url = f"ipc://{tmp_path}/control.ipc"
    session = pynng.Pair0(listen=f"ipc://{tmp_path}/session.ipc")
    control = pynng.Rep0(listen=url)

    def answer() -> None:
        control.recv()
        control.send(codec.encode_control_reply(m.SocketCreated((1, f"ipc://{tmp_path}"
                                                                     "/session.ipc"))))

    threading.Thread(target=answer, daemon=True).start()
    connection = Connection(url, timeout=0.3)
    began = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        connection.request(m.ListColumns())
    assert time.monotonic() - began < 2
    session.recv()  # the request did arrive
    with pytest.raises(RequestTimeoutError):
        connection.ping()
    connection.close()
    session.close()
    control.close()


def test_a_failing_handler_answers_unknown_and_the_session_goes_on(tmp_path):
    def handle(payload, extensions):
        if isinstance(codec.decode_request(payload), m.Flush):
            raise RuntimeError("broken")
        return codec.reply_writer(m.ListColumnsReply(()))

    server = SessionServer(ServerConfig(ipc_path=str(tmp_path / "control.ipc"),
                                        session_ipc_path=str(tmp_path)), handle)
    server.start()
    try:
        _, sock = raw_session(server.url)
        sock.send(codec.encode_request_message(1, m.Flush()))
        assert codec.decode_peer_reply(sock.recv()) == m.PeerResponse(1, m.PeerError.UNKNOWN)
        sock.send(codec.encode_request_message(2, m.ListColumns()))
        assert codec.decode_peer_reply(sock.recv()).message_id == 2
        sock.close()
    finally:
        server.stop(grace=5)
