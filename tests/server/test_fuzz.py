"""Throw thousands of random and mutated messages at a live server. Invariant: every message
on a session socket gets exactly one reply (CloseConnection: none, the session ends), a
request's reply carries its message id and decodes, nothing stops the server, and afterwards a
well-formed client works and the data written before is intact."""
from __future__ import annotations

import numpy as np
import pynng
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hyena.client import connect
from hyena.protocol import codec
from hyena.protocol import messages as m
from hyena.testing import protocol_strategies as ps
from tests.server.conftest import start_server
from tests.server.test_sessions import raw_session


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    live = start_server(tmp_path_factory.mktemp("fuzz"), "ipc")
    with connect(live.url) as db:
        db.add_column("v", "u32")
        db.add_column("s", "string")
        db.append(1, np.arange(1000, dtype=np.uint64), {"v": np.arange(1000, dtype=np.uint32),
                                                       "s": [str(i) for i in range(1000)]})
        db.flush()
    session = {"sock": raw_session(live.url)[1]}
    yield live, session
    session["sock"].close()
    code, err = live.stop()
    assert code == 0, err


def exchange(sock: pynng.Pair0, data: bytes, expected: int) -> list[bytes]:
    """Send, wait for the expected replies, then make sure no more come."""
    sock.send(data)
    replies = []
    for _ in range(expected):
        sock.recv_timeout = 10_000
        replies.append(sock.recv())
    sock.recv_timeout = 20
    try:
        replies.append(sock.recv())
    except pynng.Timeout:
        pass
    return replies


FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def session_messages(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=64))
    payload = codec.encode_request(draw(ps.requests))
    if kind == 1:  # a valid request whose payload is damaged
        raw = bytearray(payload)
        for _ in range(draw(st.integers(1, 3))):
            if raw:
                raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        payload = bytes(raw[:draw(st.integers(0, len(raw)))])
    return codec.encode_peer_request(m.PeerRequest(draw(st.integers(0, 2**64 - 1)), payload))


@FUZZ
@given(session_messages())
def test_fuzz_session_socket(target, data):
    live, session = target
    try:
        message = codec.decode_peer_request(data)
    except Exception:
        message = None
    if isinstance(message, m.PeerClose):
        session["sock"].send(data)
        session["sock"].close()
        session["sock"] = raw_session(live.url)[1]
        return
    replies = exchange(session["sock"], data, 1)
    assert len(replies) == 1
    reply = codec.decode_peer_reply(replies[0])
    if isinstance(message, m.PeerRequest):
        assert reply.message_id == message.message_id
        if message.payload is not None:
            codec.decode_reply(reply.result)  # a well-formed reply, whatever the request was


@settings(max_examples=200, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=40))
def test_fuzz_control_socket(target, data):
    live, _ = target
    with pynng.Req0(dial=live.url, recv_timeout=5000) as control:
        control.send(data)
        codec.decode_control_reply(control.recv())  # always a decodable answer


def test_server_still_works_and_data_is_intact(target):
    live, _ = target
    with connect(live.url) as db:
        # the fuzzer's well-formed inserts may have added rows after ours
        rows = db.scan(columns=["v", "s"], sources=[1], max_ts=1000).to_pylist()
        assert rows[:1000] == [{"v": i, "s": str(i)} for i in range(1000)]
        assert db.append(2, [1], {"v": [7], "s": ["ok"]}) == 1
