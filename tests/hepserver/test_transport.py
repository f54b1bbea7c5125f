"""How packets and batches move inside the daemon: the receive slots (recvmmsg, and the
recv_into fallback), the shared-memory ring between a worker and the writer, the memory
setting of the capture processes."""
from __future__ import annotations

import os
import socket

import numpy as np
import pyarrow as pa
import pytest

import hyena
from hepserver.ingest import receive
from hepserver.ingest.receive import SLOT, Slots
from hepserver.ingest.ring import Ring, RingReader


@pytest.fixture
def udp_pair():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(rx.getsockname())
    yield rx, tx
    rx.close()
    tx.close()


@pytest.mark.parametrize("batched", [True, False], ids=["recvmmsg", "recv_into"])
def test_slots_receive_every_datagram_whole(udp_pair, monkeypatch, batched):
    if not batched:
        monkeypatch.setattr(receive, "_RECVMMSG", None)
    elif receive._RECVMMSG is None:
        pytest.skip("no recvmmsg here")
    rx, tx = udp_pair
    sizes = [1, 600, 1400, 9000, 65_507, 7, 0]
    packets = [os.urandom(n) for n in sizes]
    for p in packets:
        tx.send(p)
    slots = Slots(5)
    assert slots.receive(rx, 42, limit=512) == 5  # no more than the free slots
    assert slots.receive(rx, 43, limit=512) == 0 and slots.free == 0
    assert [slots.packet(i) for i in range(5)] == packets[:5]
    assert slots.nbytes == sum(sizes[:5]) and list(slots.arrivals[:5]) == [42] * 5
    slots.clear()
    assert slots.receive(rx, 44, limit=1) == 1 and slots.receive(rx, 44, limit=9) == 1
    assert [slots.packet(i) for i in range(2)] == packets[5:]
    assert slots.receive(rx, 45, limit=9) == 0  # nothing queued: no error


def test_slots_take_stream_frames():
    slots = Slots(2)
    slots.add(b"HEP3\x00\x06", 7)
    slots.add(bytearray(b"x" * SLOT), 8)
    assert slots.packet(0) == b"HEP3\x00\x06" and slots.packet(1) == b"x" * SLOT
    assert slots.free == 0 and list(slots.lengths) == [6, SLOT]


def batch(n: int, text: str = "v") -> pa.RecordBatch:
    return pa.record_batch({"ts": pa.array(np.arange(n, dtype=np.uint64)),
                            "payload": pa.array([text * 200] * n)})


def test_ring_hands_batches_over_and_wraps_around(tmp_path):
    ring = Ring(1 << 20, directory=str(tmp_path))
    reader = RingReader(ring.path, ring.size)
    assert not os.path.exists(ring.path)  # unlinked once both sides mapped it
    pending, waits = [], []

    def wait():  # the writer acknowledges the oldest batch
        waits.append(1)
        offset, size, expected = pending.pop(0)
        assert reader.read(offset, size).equals(pa.Table.from_batches([expected]))
        ring.release()

    offsets = []
    for i in range(40):
        b = batch(300 + i, text=chr(97 + i % 26))
        offset, size = ring.write(b, wait)
        pending.append((offset, size, b))
        offsets.append(offset)
    assert waits and 0 in offsets[1:]  # it filled up, waited, and wrapped to the start
    for offset, size, expected in pending:  # what is still in flight is intact
        assert reader.read(offset, size).equals(pa.Table.from_batches([expected]))


def test_ring_refuses_batches_larger_than_half(tmp_path):
    ring = Ring(1 << 16, directory=str(tmp_path))
    assert ring.write(batch(2000), lambda: pytest.fail("must not wait")) is None
    ring.unlink()


def test_freed_memory_is_retained():
    assert hyena.retain_freed_memory() is (os.uname().sysname == "Linux")


def test_slots_split_a_stream_into_frames():
    from hepserver.hep.encode import encode_v3
    from hepserver.ingest.receive import FULL, GARBAGE, MORE

    frames = [encode_v3(payload=b"x" * n) for n in (1, 300, 20)]
    stream = bytearray(frames[0] + frames[1] + b"junk" + frames[2] + frames[0][:9])
    view = np.frombuffer(stream, np.uint8)
    slots = Slots(3)
    pos, got, why = slots.take_frames(view, 0, 5)
    assert (got, why) == (2, GARBAGE) and pos == len(frames[0]) + len(frames[1])
    pos, got, why = slots.take_frames(view, pos + 4, 6)  # after resynchronising
    assert (got, why) == (1, FULL) and slots.free == 0
    assert [slots.packet(i) for i in range(3)] == frames
    assert list(slots.arrivals) == [5, 5, 6]
    slots.clear()
    assert slots.take_frames(view, pos, 7) == (pos, 0, MORE)  # a frame cut short
    bad = np.frombuffer(b"HEP3\x00\x05xxxx", np.uint8)  # a length below 6
    assert slots.take_frames(bad, 0, 8)[2] == GARBAGE
