"""The session layer as original clients use it: raw bytes on the sockets, keep-alives,
aborts, idle sessions collected, socket permissions, and the compatible view of types."""
from __future__ import annotations

import os
import stat
import time

import numpy as np
import pynng
import pytest

import hyena
from hyena.client import connect
from hyena.protocol.warmup import warm_up as warm_up_wire
from hyena.protocol import codec
from hyena.protocol import messages as m
from hyena.types import ColumnType as T
from tests.server.conftest import start_server


def raw_session(url: str, create: bytes = b"\x00\x00\x00\x00") -> tuple[int, pynng.Pair0]:
    with pynng.Req0(dial=url, recv_timeout=5000) as control:
        control.send(create)
        connection_id, session_url = codec.decode_control_reply(control.recv()).result
    return connection_id, pynng.Pair0(dial=session_url, recv_timeout=5000, send_timeout=5000)


def call(sock: pynng.Pair0, message_id: int, request: m.Request) -> m.Reply:
    sock.send(codec.encode_peer_request(m.PeerRequest(message_id,
                                                      codec.encode_request(request))))
    reply = codec.decode_peer_reply(sock.recv())
    assert reply.message_id == message_id
    return codec.decode_reply(reply.result, extensions=False)


@pytest.fixture
def fast_gc_server(tmp_path):
    # sessions time out after 1 s: load the client's kernels now, not during the test
    hyena.warm_up()
    warm_up_wire()
    live = start_server(tmp_path, "ipc", "--session-timeout", "1", "--gc-interval", "0.3",
                        "-P", "640", "-u", "1234", "-g", "4321")
    yield live
    live.stop()


def test_session_ids_count_up_and_envelope_answers(fast_gc_server):
    first, sock = raw_session(fast_gc_server.url)
    second, other = raw_session(fast_gc_server.url)
    assert second == first + 1
    sock.send(bytes.fromhex("03000000"))  # KeepAlive
    assert sock.recv() == bytes.fromhex("01000000")
    sock.send(codec.encode_peer_request(m.PeerAbort(2**64 - 1)))  # ids above 2**63 are normal
    assert codec.decode_peer_reply(sock.recv()) == m.PeerResponse(2**64 - 1, None)
    sock.send(codec.encode_peer_request(m.PeerRequest(7, None)))
    assert codec.decode_peer_reply(sock.recv()) == m.PeerResponse(7, m.PeerError.BAD_MESSAGE)
    sock.send(b"")  # empty messages must not hurt
    assert codec.decode_peer_reply(sock.recv()).result == m.PeerError.SERIALIZATION
    assert isinstance(call(sock, 8, m.ListColumns()), m.ListColumnsReply)
    sock.close()
    other.close()


def test_bad_control_request_still_gets_a_reply(fast_gc_server):
    with pynng.Req0(dial=fast_gc_server.url, recv_timeout=5000) as control:
        control.send(b"\x05\x00")
        assert control.recv() == bytes.fromhex("00000000 01000000 01000000")


def test_idle_sessions_are_collected_and_kept_alive_ones_are_not(fast_gc_server):
    idle_id, idle = raw_session(fast_gc_server.url)
    busy_id, busy = raw_session(fast_gc_server.url)
    idle_file = fast_gc_server.sessions / f"hyena-session-{idle_id}.ipc"
    busy_file = fast_gc_server.sessions / f"hyena-session-{busy_id}.ipc"
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        busy.send(bytes.fromhex("03000000"))
        assert busy.recv() == bytes.fromhex("01000000")
        time.sleep(0.2)
    assert not idle_file.exists()
    assert busy_file.exists()
    assert isinstance(call(busy, 1, m.ListColumns()), m.ListColumnsReply)
    busy.send(codec.encode_peer_request(m.PeerClose()))
    time.sleep(0.5)
    assert not busy_file.exists()


def test_socket_files_get_owner_group_and_mode(fast_gc_server):
    if os.geteuid() != 0:
        pytest.skip("changing owners needs root")
    connection_id, sock = raw_session(fast_gc_server.url)
    for path in (fast_gc_server.url.removeprefix("ipc://"),
                 fast_gc_server.sessions / f"hyena-session-{connection_id}.ipc"):
        info = os.stat(path)
        assert stat.S_IMODE(info.st_mode) == 0o640
        assert (info.st_uid, info.st_gid) == (1234, 4321)
    sock.close()


def test_original_clients_see_nullable_strings_as_dense(fast_gc_server):
    with connect(fast_gc_server.url) as db:
        db.add_column("note", "string_sparse")
        db.append(3, [1, 2], {"note": [None, "x"]})
    _, sock = raw_session(fast_gc_server.url)  # no extension marker: an original client
    columns = {c.name: c.type for c in call(sock, 1, m.ListColumns()).columns}
    assert columns["note"] == T.STRING_DENSE
    reply = call(sock, 2, m.Scan(m.ScanRequest(0, 100, (), (2,), ())))
    fragment = reply.result.data[0].data
    assert fragment.type == T.STRING_DENSE and fragment.strings() == ["", "x"]
    # and it may insert into that column as a dense string column
    insert = m.Insert(m.InsertMessage(np.array([5], np.uint64), 3, ({2: m.Fragment(
        T.STRING_DENSE, np.frombuffer(b"y", np.uint8), None, np.array([0, 1]))},)))
    assert call(sock, 3, insert) == m.InsertReply(1)
    sock.close()


def test_insert_validation_replies(fast_gc_server):
    _, sock = raw_session(fast_gc_server.url)
    call(sock, 1, m.AddColumn("v", T.U8_DENSE))
    ts = np.array([1, 2], np.uint64)
    u8 = lambda *v: m.Fragment(T.U8_DENSE, np.array(v, np.uint8))  # noqa: E731
    cases = [
        (m.InsertMessage(np.array([], np.uint64), 1, ({2: u8()},)), m.ErrorKind.NO_DATA),
        (m.InsertMessage(ts, 1, ()), m.ErrorKind.NO_DATA),
        (m.InsertMessage(ts, 1, ({2: u8(1)},)), m.ErrorKind.INCONSISTENT_DATA),
        (m.InsertMessage(ts, 1, ({2: u8(1, 2)}, {2: u8(1, 2)})), m.ErrorKind.INCONSISTENT_DATA),
        (m.InsertMessage(ts, 1, ({0: m.Fragment(T.U64_DENSE, ts)},)),
         m.ErrorKind.INCONSISTENT_DATA),
        (m.InsertMessage(ts, 1, ({9: u8(1, 2)},)), m.ErrorKind.UNKNOWN),
        (m.InsertMessage(ts, 1, ({2: m.Fragment(T.U16_DENSE, np.array([1, 2], np.uint16))},)),
         m.ErrorKind.INCONSISTENT_DATA),
        (m.InsertMessage(ts, 1, ({2: m.Fragment(T.U8_SPARSE, np.array([1, 2], np.uint8),
                                                np.array([1, 0], np.uint32))},)),
         m.ErrorKind.INCONSISTENT_DATA),
        (m.InsertMessage(np.array([2**63], np.uint64), 1, ({2: u8(1)},)),
         m.ErrorKind.INCONSISTENT_DATA),
    ]
    for n, (message, kind) in enumerate(cases):
        reply = call(sock, 10 + n, m.Insert(message))
        assert isinstance(reply.result, m.ApiError) and reply.result.kind == kind, (n, reply)
    assert call(sock, 99, m.Insert(m.InsertMessage(ts, 1, ({2: u8(1, 2)},)))) == m.InsertReply(2)
    sock.close()
