"""The wire codec: the spec's byte-exact examples, round trips of every message, and
robustness: any bytes decode or raise DecodeError, and claimed lengths are never trusted."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hyena.errors import DecodeError
from hyena.protocol import codec as c
from hyena.protocol import messages as m
from hyena.protocol.bincode import Reader, Writer
from hyena.testing import protocol_strategies as ps
from hyena.types import ColumnType as T

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


KOTLIN_SCAN = h("02000000 0500000000000000 0a00000000000000 0200000000000000"
                "0100000000000000 0100000000000000 0200000000000000 0200000000000000"
                "0200000000000000 0100000000000000 0200000000000000"
                "0100000000000000 0100000000000000"
                "0100000000000000 02000000 07000000 05000000"
                "01 0300000000000000 0200000000000000 01 0100000000000000")


def fragment_bytes(fragment: m.Fragment) -> bytes:
    w = Writer()
    c.encode_fragment(w, fragment)
    return w.getvalue()


def test_spec_examples():
    assert c.encode_control_request(m.CreateSocket()) == h("00000000")
    assert c.encode_control_reply(m.SocketCreated((1, "ipc:///tmp/hyena-session-1.ipc"))) == h(
        "00000000 00000000 0100000000000000 1e00000000000000 "
        "6970633a2f2f2f746d702f6879656e612d73657373696f6e2d312e697063")
    assert c.encode_control_reply(m.SocketCreated(
        m.ControlError(m.ControlErrorKind.PEER_CONNECTION))) == h("00000000 01000000 01000000")
    assert c.encode_peer_request(m.PeerKeepAlive()) == h("03000000")
    assert c.encode_peer_reply(m.ServerKeepAlive()) == h("01000000")
    assert c.encode_peer_request(m.PeerRequest(0, c.encode_request(m.ListColumns()))) == h(
        "00000000 0000000000000000 01 0400000000000000 00000000")
    assert c.encode_request(m.AddColumn("ColumnName", T.I8_DENSE)) == h(
        "04000000 0a00000000000000 436f6c756d6e4e616d65 00000000")
    scan = c.decode_request(KOTLIN_SCAN)
    assert scan == m.Scan(m.ScanRequest(
        5, 10, (h("01000000000000000100000000000000"), h("02000000000000000200000000000000")),
        (1, 2), ((m.ScanFilter(1, m.ScanComparison.EQ, m.FilterVal(7, 5)),),),
        m.StreamConfig(3, 2, 1)))
    assert c.encode_request(scan) == KOTLIN_SCAN
    wrapped = h("00000000 0000000000000000 00000000 01 1000000000000000 01000000 00000000 "
                "7800000000000000")
    assert c.encode_peer_reply(m.PeerResponse(0, c.encode_reply(m.InsertReply(120)))) == wrapped
    assert c.decode_reply(c.decode_peer_reply(wrapped).result) == m.InsertReply(120)
    assert c.encode_peer_reply(m.PeerResponse(0, None)) == h("00000000 0000000000000000 00000000 00")
    assert fragment_bytes(m.Fragment(T.I64_DENSE, np.array([0x1FFFFFFFFFFFFFFF]))) == h(
        "03000000 0100000000000000 ffffffffffffff1f")
    assert fragment_bytes(m.Fragment(T.U8_SPARSE, np.array([2], np.uint8),
                                     np.array([15], np.uint32))) == h(
        "10000000 0100000000000000 02 0100000000000000 0f000000")
    assert fragment_bytes(m.Fragment(T.STRING_DENSE, np.frombuffer(b"onefive", np.uint8), None,
                                     np.array([0, 3, 7]))) == h(
        "0a000000 0200000000000000 0300000000000000 6f6e65 0400000000000000 66697665")
    assert fragment_bytes(m.Fragment(T.U16_DENSE, np.array([], np.uint16))) == h(
        "06000000 0000000000000000")
    assert fragment_bytes(m.Fragment(T.I8_SPARSE, np.array([], np.int8),
                                     np.array([], np.uint32))) == h(
        "0b000000 0000000000000000 0000000000000000")


def test_legacy_error_numbering():
    assert c.encode_reply(m.SerializeErrorReply("x"))[:4] == h("08000000")
    assert c.encode_reply(m.SerializeErrorReply("x"), legacy_errors=True)[:4] == h("07000000")
    assert c.encode_reply(m.OtherReply(), legacy_errors=True) == h("08000000")


@PROPERTY
@given(ps.requests)
def test_request_round_trip(msg):
    assert c.decode_request(c.encode_request(msg)) == msg


@PROPERTY
@given(ps.replies)
def test_reply_round_trip(msg):
    assert c.decode_reply(c.encode_reply(msg)) == msg


@PROPERTY
@given(ps.peer_requests, ps.peer_replies, ps.control_replies)
def test_envelope_round_trips(request, reply, control):
    assert c.decode_peer_request(c.encode_peer_request(request)) == request
    assert c.decode_peer_reply(c.encode_peer_reply(reply)) == reply
    assert c.decode_control_reply(c.encode_control_reply(control)) == control


DECODERS = [c.decode_request, c.decode_reply, c.decode_peer_request, c.decode_peer_reply,
            c.decode_control_reply, c.decode_control_request]


@PROPERTY
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_decode_error(data):
    for decode in DECODERS:
        try:
            decode(data)
        except DecodeError:
            pass


@PROPERTY
@given(ps.requests, st.data())
def test_truncated_and_mutated_requests(msg, data):
    raw = bytearray(c.encode_request(msg))
    cut = data.draw(st.integers(0, len(raw)))
    if raw:
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    for candidate in (bytes(raw[:cut]), bytes(raw)):
        try:
            c.decode_request(candidate)
        except DecodeError:
            pass


@pytest.mark.parametrize("claim", [2**62, 2**64 - 1, 10**9])
def test_huge_lengths_are_refused_without_allocating(claim):
    for body in (b"\x01\x00\x00\x00" + claim.to_bytes(8, "little") + b"\0" * 12,  # timestamps
                 b"\x04\x00\x00\x00" + claim.to_bytes(8, "little") + b"ab"):  # column name
        with pytest.raises(DecodeError, match="claims more"):  # not MemoryError
            c.decode_request(body)


def test_errors_say_what_and_where():
    with pytest.raises(DecodeError, match="unknown variant of Request") as info:
        c.decode_request(h("0c000000"))
    assert info.value.context["tag"] == 12
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        c.decode_request(h("04000000 0200000000000000 fffe 00000000"))
    with pytest.raises(DecodeError, match="invalid option tag"):
        c.decode_peer_request(h("00000000 0000000000000000 07"))
    with pytest.raises(DecodeError, match="different numbers"):
        c.decode_fragment(Reader(h("10000000 0100000000000000 02 0000000000000000")))


def test_type_21_needs_extensions():
    fragment = m.Fragment(T.STRING_SPARSE, np.frombuffer(b"a", np.uint8),
                          np.array([3], np.uint32), np.array([0, 1]))
    data = fragment_bytes(fragment)
    assert c.decode_fragment(Reader(data)) == fragment
    with pytest.raises(DecodeError):
        c.decode_fragment(Reader(data), extensions=False)


def test_big_fragments_round_trip():
    values = np.arange(131072, dtype=np.uint64)
    message = c.encode_request(m.Insert(m.InsertMessage(values, 1, ({2: m.Fragment(
        T.U64_DENSE, values)},))))
    assert len(message) > 2 * 8 * 131072
    decoded = c.decode_request(message)
    assert np.array_equal(decoded.message.columns[0][2].values, values)


@PROPERTY
@given(ps.requests, ps.replies, st.integers(0, 2**64 - 1))
def test_one_pass_envelopes_equal_the_layered_encoding(request, reply, message_id):
    """The fast paths (envelope and payload joined once, headers unpacked at once) give the
    bytes and values of the layer-by-layer encoding."""
    layered = c.encode_peer_request(m.PeerRequest(message_id, c.encode_request(request)))
    assert c.encode_request_message(message_id, request) == layered
    decoded = c.decode_peer_request(layered)
    assert decoded == m.PeerRequest(message_id, c.encode_request(request))
    assert c.decode_request(decoded.payload) == request  # from a view of the message
    layered = c.encode_peer_reply(m.PeerResponse(message_id, c.encode_reply(reply)))
    for encoded in (c.reply_writer(reply), c.encode_reply(reply)):
        assert c.encode_response_message(message_id, encoded) == layered
    assert c.decode_reply(c.decode_peer_reply(layered).result) == reply


def test_envelope_fast_path_leaves_odd_messages_to_the_checked_path():
    request = c.encode_request_message(7, m.ListColumns())
    assert c.decode_peer_request(request + b"trailing") == c.decode_peer_request(request)
    with pytest.raises(DecodeError, match="payload claims more"):
        c.decode_peer_request(request[:-1])  # claims one byte more than there is
    none = c.encode_peer_request(m.PeerRequest(7, None)) + bytes(20)
    assert c.decode_peer_request(none) == m.PeerRequest(7, None)
    error = c.encode_peer_reply(m.PeerResponse(9, m.PeerError.BAD_MESSAGE)) + bytes(20)
    assert c.decode_peer_reply(error) == m.PeerResponse(9, m.PeerError.BAD_MESSAGE)


def test_catalog_listings_are_decoded_once_and_checked():
    reply = m.ListColumnsReply((m.ReplyColumn(T.U16_DENSE, 2, "port"),
                                m.ReplyColumn(T.STRING_SPARSE, 3, "note")))
    data = c.encode_reply(reply)
    first = c.decode_reply(data)
    assert first == reply and c.decode_reply(memoryview(data)) is first
    with pytest.raises(DecodeError):
        c.decode_reply(data, extensions=False)  # type 21 without extensions
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        c.decode_reply(data[:-4] + b"\xff\xfe\xfd\xfc")
    with pytest.raises(DecodeError, match="claims more"):
        c.decode_reply(data[:30])
    cut = h("00000000 0200000000000000 06000000 0200000000000000 1900000000000000") + \
        b"p" * 25 + bytes(10)  # the second column's header is cut off
    with pytest.raises(DecodeError, match="ends inside"):
        c.decode_reply(cut)


def test_string_vectors_share_one_pool_and_use_arrow_offsets():
    words = [m.Fragment(T.STRING_DENSE, np.frombuffer(text.encode(), np.uint8), None,
                        np.array(bounds)) for text, bounds in
             (("onetwothree", [0, 3, 6, 11]), ("", [0, 0, 0]), ("xyz", [0, 3]))]
    message = c.encode_request(m.Insert(m.InsertMessage(
        np.array([1, 2, 3], np.uint64), 1, ({2 + k: f for k, f in enumerate(words)},))))
    decoded = c.decode_request(memoryview(message)).message.columns[0]
    assert [decoded[2 + k].strings() for k in range(3)] == [w.strings() for w in words]
    assert all(f.offsets.dtype == np.int32 for f in decoded.values())
    assert decoded[4].values.base is decoded[2].values.base  # one allocation per message


def test_writer_keeps_arrays_and_views_until_it_joins():
    w = Writer()
    values = np.arange(3, dtype=np.uint16)
    w.array(values, np.uint16)
    w.raw(memoryview(b"ab"))
    w.raw(bytearray(b"cd"))  # mutable: copied now
    assert w.size == 8 + 6 + 4
    assert w.getvalue(b"H") == b"H" + (3).to_bytes(8, "little") + values.tobytes() + b"abcd"
