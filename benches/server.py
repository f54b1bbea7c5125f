"""Server benchmark: hyena's nanomsg server and Python client against raw pynng Pair0.

The server runs in a process of its own (`python -m hyena.server`), as users run it, and the
client in this one. The ceiling is a raw pynng Pair0 peer, also a process of its own, that
answers each message with a message of the size the message asks for (its first 8 bytes): so
it moves the same bytes each way as hyena's requests and replies, and does nothing else. The
same peer can also do the engine's work for each message (append the same rows, scan the same
chunk, in an embedded database) without any protocol: the best a server on this engine could
do, which separates the cost of the protocol layer from the engine's. Over ipc and tcp:

- round trips: KeepAlive (`ping`) and ListColumns against raw ping-pong of the same sizes;
- inserts of 10,000-row SIP batches and of ~1 MiB messages: rows/s and MB/s of request bytes,
  against raw send + acknowledgement (one at a time and 3 in flight) and raw ping-pong;
- scans streaming the stored rows back in 10,000-row and ~1 MiB chunks: rows/s and MB/s of
  reply bytes, against raw tiny-request + reply of the same size.

Stored rows are counted on the server and the peer, streamed rows are checked against that
count, so no system can pass by dropping work. The issue's goals are printed as PASS/MISS.

    python -m benches server            # default run (a few minutes)
    python -m benches server --quick    # smoke run
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import psutil
import pyarrow as pa

MiB = 1 << 20
ROOT = Path(__file__).resolve().parents[1]
_HEADER = struct.Struct("<QII")  # raw peer: reply size, action, argument
RAW_REPLY, RAW_APPEND, RAW_SCAN, RAW_COUNT, RAW_EXIT = range(5)
TEMPLATE_ROWS = 50_000  # distinct SIP rows; batches cycle through them with new timestamps
PIPELINE = 3  # requests in flight for the pipelined measurements
_ROW_KINDS = {"sip": "SIP rows with payload", "numeric": "SIP rows' integer columns only"}


# --- data --------------------------------------------------------------------------------------

def _template(rows: int, kind: str = "sip") -> pa.Table:
    """The SIP table (strings and payload), or with `kind="numeric"` only its integer columns:
    then decoding and appending are little more than copies, and the protocol's own cost
    shows."""
    from benches.sipdata import scan_table
    table = scan_table(rows).combine_chunks()
    if kind == "numeric":
        table = table.select([f.name for f in table.schema if pa.types.is_integer(f.type)])
    return table


def _schema(table: pa.Table) -> list[tuple[str, str]]:
    """(name, hyena type) of every column but ts, as the benchmarks' SIP table declares them."""
    from benches.sipdata import HYENA_TYPES
    return [(f.name, HYENA_TYPES[f.type] + ("_sparse" if f.nullable else ""))
            for f in table.schema if f.name != "ts"]


class Batches:
    """Batches of `rows` rows cut from the template, in a cycle, with timestamps increasing
    from one batch to the next (batch i is the same for every system). The pieces are cut
    once: making batch i only adds to the timestamps."""

    def __init__(self, template: pa.Table, rows: int) -> None:
        count = max(template.num_rows // rows, 1)
        self.pieces = [template.slice(k * rows, rows).combine_chunks().to_batches()[0]
                       for k in range(count)]
        ts = template.column("ts")
        self.span = int(ts[-1].as_py()) - int(ts[0].as_py()) + 1000

    def batch(self, i: int) -> pa.RecordBatch:
        piece = self.pieces[i % len(self.pieces)]
        shift = np.uint64((i // len(self.pieces) + 1) * self.span)
        ts = pa.array(piece.column(0).to_numpy() + shift)
        return pa.RecordBatch.from_arrays([ts, *piece.columns[1:]], schema=piece.schema)


# --- processes -----------------------------------------------------------------------------------

@dataclass
class Proc:
    """A child process: the hyena server or the raw peer."""

    process: subprocess.Popen
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _spawn(args: list[str], log: Path, ready: str) -> subprocess.Popen:
    """Start `python args...` with its stderr in `log`; return once `ready` shows there."""
    with open(log, "w") as err:
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stderr=err,
                                   stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if ready in log.read_text():
            return process
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{' '.join(args[:3])} did not start: {log.read_text()[-2000:]}")


def _url(transport: str, path: Path, name: str) -> tuple[str, list[str]]:
    if transport == "ipc":
        return f"ipc://{path}/{name}.ipc", ["-i", f"{path}/{name}.ipc"]
    from benches.common import free_port
    port = free_port()
    return f"tcp://127.0.0.1:{port}", ["-h", "127.0.0.1", "-p", str(port)]


def start_server(transport: str, path: Path) -> Proc:
    """`hyena -d path/data -t transport` as a user starts it (kernels warmed up first)."""
    url, where = _url(transport, path, "control")
    (path / "sessions").mkdir(exist_ok=True)
    args = ["-m", "hyena.server", "-d", str(path / "data"), "-t", transport,
            "-s", str(path / "sessions"), "--log-level", "warning", *where]
    return Proc(_spawn(args, path / "server.log", "serving"), url)


def start_peer(transport: str, path: Path, template_rows: int, kind: str) -> Proc:
    url, _ = _url(transport, path, "peer")
    args = ["-m", "benches.server", "--raw-peer", url, "--dir", str(path / "peer"),
            "--template-rows", str(template_rows), "--rows", kind]
    return Proc(_spawn(args, path / "peer.log", "peer ready"), url)


# --- the raw peer (its own process) --------------------------------------------------------------

def raw_peer(url: str, data: Path, template_rows: int, kind: str) -> int:
    """Answer each message with as many bytes as its header asks for; append or scan first
    when asked (the engine's work without the protocol)."""
    import pynng
    import hyena
    template = _template(template_rows, kind)
    db = hyena.open(data)
    for name, ctype in _schema(template):
        db.add_column(name, ctype)
    hyena.warm_up()
    replies: dict[int, bytes] = {}
    batches: dict[int, Batches] = {}
    sent = 0
    state: int | None = None
    sock = pynng.Pair0(recv_max_size=1 << 30, send_timeout=60_000)
    sock.listen(url)
    print("peer ready", file=sys.stderr, flush=True)
    while True:
        data_ = sock.recv_msg().bytes
        size, action, arg = _HEADER.unpack_from(data_) if len(data_) >= 16 else (8, 0, 0)
        if action == RAW_EXIT:
            break
        if action == RAW_APPEND:
            source = batches.setdefault(arg, Batches(template, arg))
            db.append_arrow(1, source.batch(sent))
            sent += 1
        elif action == RAW_SCAN:
            _, state = db.scan_chunk(row_limit=arg, state=state)
        if action == RAW_COUNT:
            reply = db.count().to_bytes(8, "little")
        else:
            reply = replies.get(size)
            if reply is None:
                reply = replies[size] = bytes(size)
        sock.send(reply)
    sock.close()
    db.close()
    return 0


class RawClient:
    """This side of the raw peer: messages of given sizes, kept ready (not built in the loop)."""

    def __init__(self, url: str) -> None:
        import pynng
        self.sock = pynng.Pair0(dial=url, recv_max_size=1 << 30, send_timeout=60_000,
                                recv_timeout=60_000, block_on_dial=True)
        self._messages: dict[tuple, bytes] = {}

    def message(self, size: int, reply: int, action: int = RAW_REPLY, arg: int = 0) -> bytes:
        key = (size, reply, action, arg)
        msg = self._messages.get(key)
        if msg is None:
            msg = self._messages[key] = _HEADER.pack(reply, action, arg) + \
                bytes(max(0, size - _HEADER.size))
        return msg

    def call(self, msg: bytes) -> bytes:
        self.sock.send(msg)
        return self.sock.recv_msg().bytes

    def count(self) -> int:
        return int.from_bytes(self.call(self.message(16, 8, RAW_COUNT)), "little")

    def close(self) -> None:
        try:
            self.sock.send(self.message(16, 0, RAW_EXIT))
        finally:
            self.sock.close()


# --- measuring -----------------------------------------------------------------------------------

@dataclass
class Result:
    """One system's measurement: operations, seconds per round, bytes, CPU, memory."""

    system: str
    ops_per_round: int
    rounds: list[float] = field(default_factory=list)  # seconds of each round
    latencies: list[float] = field(default_factory=list)  # seconds of each op (round trips)
    rows_per_op: int = 0
    bytes_per_op: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    client_rss: int = 0
    server_rss: int = 0

    @property
    def ops(self) -> int:
        return self.ops_per_round * len(self.rounds)

    @property
    def op_s(self) -> float:
        """Median seconds per operation over the rounds."""
        return statistics.median(self.rounds) / self.ops_per_round

    @property
    def rows_per_s(self) -> float:
        return self.rows_per_op / self.op_s

    @property
    def bytes_per_s(self) -> float:
        return self.bytes_per_op / self.op_s


@dataclass
class System:
    """Something to measure: `run(i)` does operation i; `peer` is the process serving it."""

    name: str
    run: Callable[[int], None]
    peer: Proc
    rows_per_op: int = 0
    bytes_per_op: Callable[[], float] | float = 0.0
    setup: Callable[[], None] | None = None
    finish: Callable[[], None] | None = None  # end of a round (wait for pipelined replies)


def measure(systems: list[System], ops: int, rounds: int, latencies: bool = False
            ) -> list[Result]:
    """`rounds` rounds; in each every system runs `ops` operations in turn (so drift of the
    machine spreads over all systems alike). Op numbers continue across rounds."""
    from benches.common import peak_rss, reset_peak_rss
    results = [Result(s.name, ops, rows_per_op=s.rows_per_op) for s in systems]
    counters = [0] * len(systems)
    for system in systems:
        if system.setup:
            system.setup()
    for _ in range(rounds):
        for k, (system, result) in enumerate(zip(systems, results)):
            reset_peak_rss()
            reset_peak_rss(system.peer.pid)
            cpu0, peer0 = time.process_time(), system.peer.cpu()
            start = time.perf_counter()
            for i in range(counters[k], counters[k] + ops):
                if latencies:
                    began = time.perf_counter()
                    system.run(i)
                    result.latencies.append(time.perf_counter() - began)
                else:
                    system.run(i)
            if system.finish:
                system.finish()
            result.rounds.append(time.perf_counter() - start)
            result.client_cpu += time.process_time() - cpu0
            result.server_cpu += system.peer.cpu() - peer0
            result.client_rss = max(result.client_rss, peak_rss())
            result.server_rss = max(result.server_rss, peak_rss(system.peer.pid))
            counters[k] += ops
    for system, result in zip(systems, results):
        per = system.bytes_per_op
        result.bytes_per_op = per() if callable(per) else per
    return results


# --- the measurements ----------------------------------------------------------------------------

@dataclass
class Bench:
    """Everything one transport's measurements use."""

    transport: str
    server: Proc
    peer: Proc
    db: object  # hyena.client.RemoteDatabase
    raw: RawClient
    template: pa.Table
    rows_stored: int = 0  # rows appended to the server (checked against its count)
    peer_rows: int = 0


class Meter:
    """Bytes the client sent and received over a run of operations (envelopes included)."""

    def __init__(self, db) -> None:
        self.connection = db.connection
        self.mark()

    def mark(self) -> None:
        self.sent0, self.received0 = self.connection.bytes_sent, self.connection.bytes_received
        self.ops = 0

    def op(self) -> None:
        self.ops += 1

    def sent_per_op(self) -> float:
        return (self.connection.bytes_sent - self.sent0) / max(self.ops, 1)

    def received_per_op(self) -> float:
        return (self.connection.bytes_received - self.received0) / max(self.ops, 1)


def round_trips(b: Bench, n: int, rounds: int) -> list[Result]:
    """Tiny requests: hyena's KeepAlive and ListColumns vs raw ping-pong of the same sizes."""
    from hyena.protocol import messages as m
    conn = b.db.connection
    meter = Meter(b.db)
    conn.request(m.ListColumns())
    meter.op()
    list_sent, list_received = meter.sent_per_op(), meter.received_per_op()
    raw = b.raw
    raw_keepalive = raw.message(16, 4)
    raw_listing = raw.message(int(list_sent), int(list_received))
    systems = [
        System("hyena ping (KeepAlive)", lambda i: conn.ping(), b.server, bytes_per_op=8),
        System("raw ping-pong 16 B / 4 B", lambda i: raw.call(raw_keepalive), b.peer,
               bytes_per_op=20),
        System("hyena ListColumns", lambda i: conn.request(m.ListColumns()), b.server,
               bytes_per_op=list_sent + list_received),
        System(f"raw ping-pong {int(list_sent)} B / {int(list_received)} B",
               lambda i: raw.call(raw_listing), b.peer, bytes_per_op=list_sent + list_received),
    ]
    return measure(systems, n, rounds, latencies=True)


def inserts(b: Bench, rows: int, ops: int, rounds: int) -> tuple[list[Result], float]:
    """Appends of `rows`-row batches against raw messages of the same size."""
    source = Batches(b.template, rows)
    total = ops * rounds
    prepared = [source.batch(i) for i in range(total + 1)]  # built before timing
    meter = Meter(b.db)
    b.db.append_arrow(1, prepared[total])  # one untimed, to learn the message size
    meter.op()
    b.rows_stored += rows
    size, ack = meter.sent_per_op(), meter.received_per_op()
    inflight: list = []

    def hyena_append(i: int) -> None:
        b.db.append_arrow(1, prepared[i % total])

    def hyena_pipelined(i: int) -> None:
        inflight.append(b.db.append_arrow(1, prepared[i % total], wait=False))
        if len(inflight) >= PIPELINE:
            inflight.pop(0).result()

    def drain() -> None:
        while inflight:
            inflight.pop(0).result()

    raw = b.raw
    send_ack = raw.message(int(size), int(ack))
    ping_pong = raw.message(int(size), int(size))
    with_engine = raw.message(int(size), int(ack), RAW_APPEND, rows)
    raw_pending = [0]

    def raw_pipelined(i: int) -> None:
        raw.sock.send(send_ack)
        raw_pending[0] += 1
        if raw_pending[0] >= PIPELINE:
            raw.sock.recv_msg()
            raw_pending[0] -= 1

    def raw_drain() -> None:
        while raw_pending[0]:
            raw.sock.recv_msg()
            raw_pending[0] -= 1

    def with_engine_call(i: int) -> None:
        raw.call(with_engine)

    systems = [
        System("hyena append", hyena_append, b.server, rows, size),
        System(f"hyena append, {PIPELINE} in flight", hyena_pipelined, b.server, rows, size,
               finish=drain),
        System("raw send + ack", lambda i: raw.call(send_ack), b.peer, rows, size),
        System(f"raw send + ack, {PIPELINE} in flight", raw_pipelined, b.peer, rows, size,
               finish=raw_drain),
        System("raw ping-pong", lambda i: raw.call(ping_pong), b.peer, rows, size),
        System("raw + engine append", with_engine_call, b.peer, rows, size),
    ]
    results = measure(systems, ops, rounds)
    b.rows_stored += 2 * rows * total
    b.peer_rows += rows * total
    return results, size


def scans(b: Bench, rows: int, ops: int, rounds: int) -> tuple[list[Result], float]:
    """Streaming scans of `rows`-row chunks against raw replies of the same size."""
    state: list = [None]
    meter = Meter(b.db)
    streamed = [0, 0]  # rows, chunks of the scan_chunk system
    chunks: list = [None]

    received = [0]

    def hyena_chunk(i: int) -> None:
        before = b.db.connection.bytes_received
        table, state[0] = b.db.scan_chunk(row_limit=rows, state=state[0])
        received[0] += b.db.connection.bytes_received - before
        meter.op()
        streamed[0] += table.num_rows
        streamed[1] += 1

    def hyena_iter(i: int) -> None:
        if chunks[0] is None:
            chunks[0] = b.db.scan_iter(row_limit=rows)
        if next(chunks[0], None) is None:  # the end of the data: start again
            chunks[0] = b.db.scan_iter(row_limit=rows)
            next(chunks[0])

    def close_iter() -> None:  # a round ends: the chunk asked for ahead arrives (timed)
        if chunks[0] is not None:
            chunks[0].close()
            chunks[0] = None

    hyena_chunk(0)  # one untimed, to learn the sizes
    request, reply = meter.sent_per_op(), meter.received_per_op()
    streamed[:] = [0, 0]
    received[0] = 0
    raw = b.raw
    raw_reply = raw.message(int(request), int(reply))
    with_engine = raw.message(int(request), int(reply), RAW_SCAN, rows)
    systems = [
        System("hyena scan_chunk", hyena_chunk, b.server, rows,
               lambda: received[0] / max(streamed[1], 1)),
        System("hyena scan_iter (asks ahead)", hyena_iter, b.server, rows, reply,
               finish=close_iter),
        System("raw request + reply", lambda i: raw.call(raw_reply), b.peer, rows, reply),
        System("raw + engine scan_chunk", lambda i: raw.call(with_engine), b.peer, rows, reply),
    ]
    results = measure(systems, ops, rounds)
    results[0].rows_per_op = results[1].rows_per_op = streamed[0] / max(streamed[1], 1)
    return results, reply


def verify_scan(b: Bench, rows: int) -> str:
    """Stream everything and compare with what was stored: nothing dropped, nothing doubled."""
    total = 0
    for table in b.db.scan_iter(row_limit=rows, columns=["ts"]):
        total += table.num_rows
    counted = b.db.count()
    ok = total == counted == b.rows_stored
    return (f"{'ok' if ok else 'MISMATCH'}: server holds {counted} rows, {b.rows_stored} were "
            f"appended, a full stream returned {total}; raw + engine peer holds "
            f"{b.raw.count()} of {b.peer_rows}")


# --- where the time goes -------------------------------------------------------------------------

def stage_times(template: pa.Table, rows: int, root: Path, repeats: int
                ) -> list[tuple[str, list]]:
    """The steps of one insert and one scan chunk of `rows` rows, each timed alone in this
    process (the server's steps with the server's own Handler on an embedded database):
    [(title, [(step, seconds)])], medians."""
    import hyena
    from benches.common import scratch_dir
    from hyena.client.remote import _fragment, result_table
    from hyena.engine.batch import make_batch
    from hyena.protocol import codec
    from hyena.protocol import messages as m
    from hyena.server.handler import Handler
    from hyena.server.results import scan_result

    def median_time(fn: Callable[[int], object]) -> float:
        times = []
        for i in range(repeats):
            began = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - began)
        return statistics.median(times)

    with scratch_dir(root, "server-stages") as path:
        db = hyena.open(path / "db")
        for name, ctype in _schema(template):
            db.add_column(name, ctype)
        handler = Handler(db)
        source = Batches(template, rows)
        batches = [source.batch(i) for i in range(3 * repeats)]

        def validate(i: int):
            batch = batches[i]
            columns = {n: batch.column(n) for n in batch.schema.names if n != "ts"}
            return make_batch(1, batch.column("ts"), columns, db.column)

        def message(i: int) -> bytes:
            checked = validate(i)
            insert = m.InsertMessage(checked.ts, 1, tuple(
                {cv.column.id: _fragment(cv)} for cv in checked.columns))
            return codec.encode_request_message(i, m.Insert(insert))

        encoded = [message(i) for i in range(repeats, 3 * repeats)]
        payloads = [codec.decode_peer_request(e).payload for e in encoded]
        t_validate = median_time(validate)
        t_encode = median_time(message) - t_validate
        t_decode = median_time(lambda i: codec.decode_request(payloads[i]))
        t_handle = median_time(lambda i: handler.handle(payloads[repeats + i], True))
        insert = (f"insert of {rows} rows, {len(encoded[0]) / MiB:.2f} MiB",
                  [("client: validate (the engine's checks)", t_validate),
                   ("client: encode", t_encode), ("server: decode", t_decode),
                   ("server: engine append", t_handle - t_decode)])
        db.flush()
        projection = tuple(db.columns)  # what the client asks for: every column
        tables: list = []
        t_scan = median_time(lambda i: tables.append(db.scan_chunk(
            row_limit=rows, columns=[c.id for c in projection])[0]))

        def reply(i: int) -> bytes:
            result = scan_result(tables[i], list(projection), None, True)
            return codec.encode_response_message(i, codec.reply_writer(m.ScanReply(result)))

        t_encode_reply = median_time(reply)  # dropped at once, as the server does
        replies = [reply(i) for i in range(repeats)]
        t_decode_reply = median_time(lambda i: codec.decode_reply(codec.decode_peer_reply(
            replies[i]).result))
        decoded = [codec.decode_reply(codec.decode_peer_reply(r).result).result for r in replies]
        t_arrow = median_time(lambda i: result_table(decoded[i], projection))
        scan = (f"scan chunk of {rows} rows, {len(replies[0]) / MiB:.2f} MiB",
                [("server: engine scan_chunk", t_scan), ("server: encode reply", t_encode_reply),
                 ("client: decode", t_decode_reply), ("client: to Arrow", t_arrow)])
        db.close()
    return [insert, scan]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


# --- reporting -----------------------------------------------------------------------------------

@dataclass
class Goal:
    text: str
    achieved: float
    target: float
    higher_is_better: bool = True
    note: str = ""

    def line(self) -> str:
        met = self.achieved >= self.target if self.higher_is_better else \
            self.achieved < self.target
        op = "≥" if self.higher_is_better else "<"
        extra = f"; {self.note}" if self.note else ""
        return f"{'PASS' if met else 'MISS'}  {self.text}: {self.achieved:.2f} " \
               f"(target {op} {self.target:g}){extra}"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}"


def report_round_trips(title: str, results: list[Result]) -> dict[str, tuple[float, float]]:
    """Prints latencies; returns {hyena system: (median overhead, p99 overhead)} in seconds."""
    from benches.common import fmt_bytes, print_table
    rows, overheads = [], {}
    for k, r in enumerate(results):
        lat = np.array(r.latencies)
        med, p99 = float(np.median(lat)), float(np.percentile(lat, 99))
        extra = ["", ""]
        if r.system.startswith("raw"):
            hy = results[k - 1]
            hy_lat = np.array(hy.latencies)
            d_med = float(np.median(hy_lat)) - med
            d_p99 = float(np.percentile(hy_lat, 99)) - p99
            overheads[hy.system] = (d_med, d_p99)
            extra = [_us(d_med), _us(d_p99)]
        rows.append([r.system, r.ops, _us(med), _us(float(np.percentile(lat, 10))), _us(p99),
                     *extra, f"{r.client_cpu / r.ops * 1e6:.0f}",
                     f"{r.server_cpu / r.ops * 1e6:.0f}", fmt_bytes(r.client_rss),
                     fmt_bytes(r.server_rss)])
    print_table(["system", "round trips", "median µs", "p10 µs", "p99 µs", "hyena − raw µs",
                 "p99 − raw p99 µs", "client CPU µs/op", "server CPU µs/op", "client RSS",
                 "server RSS"], rows, title)
    return overheads


def report_throughput(title: str, results: list[Result], peers: dict[str, str]) -> None:
    """`peers`: hyena system -> the raw system its ratio is taken against."""
    from benches.common import MB, fmt_bytes, fmt_count, print_table
    by_name = {r.system: r for r in results}
    rows = []
    for r in results:
        ratio = ""
        if r.system in peers:
            ratio = f"{r.bytes_per_s / by_name[peers[r.system]].bytes_per_s:.2f}"
        rows.append([r.system, r.ops, fmt_count(r.rows_per_s), f"{r.bytes_per_s / MB:.0f}",
                     f"{r.op_s * 1000:.2f}", f"{r.client_cpu / r.ops * 1000:.2f}",
                     f"{r.server_cpu / r.ops * 1000:.2f}", fmt_bytes(r.client_rss),
                     fmt_bytes(r.server_rss), ratio])
    print_table(["system", "messages", "rows/s", "MB/s", "ms/msg", "client CPU ms/msg",
                 "server CPU ms/msg", "client RSS", "server RSS", "hyena ÷ raw"], rows, title)
    for hy, raw in peers.items():
        print(f"  {hy} ÷ {raw}: {by_name[hy].bytes_per_s / by_name[raw].bytes_per_s:.2f}")


# --- one transport -------------------------------------------------------------------------------

def run_transport(transport: str, args: argparse.Namespace, root: Path, template: pa.Table,
                  rows_per_mib: int) -> list[Goal]:
    import hyena.client
    from benches.common import scratch_dir
    goals: list[Goal] = []
    with scratch_dir(root, f"server-{transport}") as path:
        server = start_server(transport, path)
        peer = start_peer(transport, path, template.num_rows, args.rows)
        db = hyena.client.connect(server.url)
        raw = RawClient(peer.url)
        try:
            for name, ctype in _schema(template):
                db.add_column(name, ctype)
            b = Bench(transport, server, peer, db, raw, template)
            t = transport
            if "round-trips" in args.parts:
                rt = round_trips(b, args.round_trips, args.rounds)
                overheads = report_round_trips(f"{t}: round trips of tiny requests", rt)
            if transport == "ipc" and "round-trips" in args.parts:
                med, p99 = overheads["hyena ListColumns"]
                goals.append(Goal("ipc round trip, ListColumns − raw ping-pong, median µs",
                                  med * 1e6, 100, False, f"p99 difference {p99 * 1e6:.0f} µs; "
                                  f"KeepAlive median difference "
                                  f"{overheads['hyena ping (KeepAlive)'][0] * 1e6:.0f} µs"))
            peers = {"hyena append": "raw send + ack",
                     f"hyena append, {PIPELINE} in flight": f"raw send + ack, {PIPELINE} in flight"}
            for rows, ops in ((10_000, args.insert_ops), (rows_per_mib, args.mib_ops)):
                if "inserts" not in args.parts:
                    break
                results, size = inserts(b, rows, ops, args.rounds)
                report_throughput(f"{t}: inserts of {rows} rows, {size / MiB:.2f} MiB messages",
                                  results, peers)
                if rows == rows_per_mib:
                    goals += _throughput_goals(f"{t} 1 MiB inserts", results, peers)
            scan_peers = {"hyena scan_chunk": "raw request + reply",
                          "hyena scan_iter (asks ahead)": "raw request + reply"}
            if "scans" in args.parts and b.rows_stored == 0:  # something to scan
                source = Batches(template, 10_000)
                for i in range(20):
                    db.append_arrow(1, source.batch(i))
                    raw.call(raw.message(16, 8, RAW_APPEND, 10_000))
                    b.rows_stored += 10_000
                    b.peer_rows += 10_000
            for rows, ops in ((10_000, args.scan_ops), (rows_per_mib, args.mib_ops)):
                if "scans" not in args.parts:
                    break
                results, size = scans(b, rows, ops, args.rounds)
                report_throughput(f"{t}: scans in chunks of {rows} rows, "
                                  f"{size / MiB:.2f} MiB replies", results, scan_peers)
                if rows == rows_per_mib:
                    goals += _throughput_goals(f"{t} 1 MiB scan replies", results, scan_peers)
            print(f"{t}: check: {verify_scan(b, 10_000)}")
        finally:
            db.close()
            raw.close()
            server.stop()
            peer.stop()
    return goals


def _throughput_goals(what: str, results: list[Result], peers: dict[str, str]) -> list[Goal]:
    by_name = {r.system: r for r in results}
    engine = next((r for r in results if r.system.startswith("raw + engine")), None)
    goals = []
    for hy, raw in peers.items():
        note = ""
        if engine is not None and "in flight" not in hy:
            note = (f"raw + engine (no protocol) reaches "
                    f"{engine.bytes_per_s / by_name[raw].bytes_per_s:.2f}, hyena ÷ that "
                    f"{by_name[hy].bytes_per_s / engine.bytes_per_s:.2f}")
        goals.append(Goal(f"{what}: {hy} ÷ {raw} MB/s",
                          by_name[hy].bytes_per_s / by_name[raw].bytes_per_s, 0.7, note=note))
    return goals


def _rows_per_mib(template: pa.Table) -> int:
    """Rows whose Insert message is about 1 MiB (encoded as the client encodes it)."""
    import hyena
    import tempfile
    from hyena.client.remote import _fragment
    from hyena.engine.batch import make_batch
    from hyena.protocol import codec
    from hyena.protocol import messages as m
    with tempfile.TemporaryDirectory() as tmp:
        db = hyena.open(tmp)
        for name, ctype in _schema(template):
            db.add_column(name, ctype)
        batch = Batches(template, 10_000).batch(0)
        columns = {n: batch.column(n) for n in batch.schema.names if n != "ts"}
        checked = make_batch(1, batch.column("ts"), columns, db.column)
        insert = m.InsertMessage(checked.ts, 1, tuple({cv.column.id: _fragment(cv)}
                                                      for cv in checked.columns))
        size = len(codec.encode_request_message(0, m.Insert(insert)))
        db.close()
    return round(MiB / (size / 10_000))


# --- command line --------------------------------------------------------------------------------

def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benches server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run (under a minute)")
    parser.add_argument("--transports", default="ipc,tcp", help="default ipc,tcp")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds; in each every system takes its turn (default 5)")
    parser.add_argument("--round-trips", type=int, default=1000,
                        help="round trips per system and round (default 1000)")
    parser.add_argument("--insert-ops", type=int, default=20,
                        help="10k-row inserts per system and round (default 20)")
    parser.add_argument("--scan-ops", type=int, default=20,
                        help="10k-row scan chunks per system and round (default 20)")
    parser.add_argument("--mib-ops", type=int, default=60,
                        help="1 MiB inserts / scan chunks per system and round (default 60)")
    parser.add_argument("--stage-repeats", type=int, default=20,
                        help="repeats of each step in 'where the time goes' (default 20)")
    parser.add_argument("--parts", default="round-trips,inserts,scans",
                        help="what to measure (default round-trips,inserts,scans)")
    parser.add_argument("--no-stages", action="store_true",
                        help="skip the 'where the time goes' table")
    parser.add_argument("--dir", help="scratch directory on a real disk (default: temp dir)")
    parser.add_argument("--rows", choices=("sip", "numeric"), default="sip",
                        help="sip: the SIP table with strings and payload (default); numeric: "
                             "its integer columns only")
    parser.add_argument("--raw-peer", help=argparse.SUPPRESS)  # run as the raw peer
    parser.add_argument("--template-rows", type=int, default=TEMPLATE_ROWS,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.round_trips, args.insert_ops = 2, 200, 4
        args.scan_ops, args.mib_ops, args.stage_repeats = 4, 10, 5
        args.template_rows = min(args.template_rows, 20_000)
    args.transports = args.transports.split(",")
    args.parts = args.parts.split(",")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.raw_peer:
        return raw_peer(args.raw_peer, Path(args.dir), args.template_rows, args.rows)
    from benches.common import fmt_count, machine_summary, print_table, scratch_root
    import pynng
    root = scratch_root(args.dir)
    began = time.monotonic()
    print("server benchmark (benches/server.py)")
    for line in machine_summary(root):
        print(line)
    template = _template(args.template_rows, args.rows)
    rows_per_mib = _rows_per_mib(template)
    print(f"pynng {pynng.__version__}; hyena server and raw Pair0 peer in processes of their own, "
          f"client here; {_ROW_KINDS[args.rows]} ({template.num_rows} distinct, cycled), "
          f"{rows_per_mib} rows ≈ 1 MiB of Insert message;\n{args.rounds} rounds, systems "
          f"taking turns in each; rates are the median round; RSS = peak per round "
          f"(client = this process, server = hyena or the peer); CPU = per message")
    if not args.no_stages:
        for title, steps in stage_times(template, rows_per_mib, root, args.stage_repeats):
            print_table(["step", "ms"], [[step, _ms(t)] for step, t in steps],
                        f"where the time goes: {title} (each step alone, median of "
                        f"{args.stage_repeats}, in this process)")
    goals = []
    for transport in args.transports:
        goals += run_transport(transport, args, root, template, rows_per_mib)
    print(f"\n(took {time.monotonic() - began:.0f} s, servers' start-up included)")
    print("\nissue goals:")
    for goal in goals:
        print(goal.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
