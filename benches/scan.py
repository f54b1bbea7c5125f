"""Scan latency: hyena against DuckDB, chDB and a numba lower bound on the issue's q1-q6.

The same SIP-like table (benches.sipdata.scan_table) is loaded into hyena, an on-disk DuckDB
database and an on-disk chDB MergeTree table; the lower bound holds the same columns as plain
in-memory arrays and answers each query with a hand-written numba kernel. Every system returns
an Arrow table (hyena's count calls an int or a dict) and every answer is reduced to a row
count and a checksum of its timestamps, which must agree between systems.

Warm: one untimed run, then the median of `--repeats` runs. Cold: before each query the system
is closed (after dropping its in-process caches), its files are dropped from the page cache
(fdatasync + posix_fadvise DONTNEED) and it is opened again; the first run is timed. A streamed
full scan (every column) runs in a fresh process to measure its peak RSS.

    python -m benches scan            # 10M rows (~8 min)
    python -m benches scan --quick    # 1M rows (~1 min)
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import pyarrow as pa

import hyena
from benches.common import (
    GB,
    MB,
    cold_read_bandwidth,
    current_rss,
    drop_page_cache,
    fmt_bytes,
    fmt_count,
    machine_summary,
    memory_read_bandwidth,
    peak_rss,
    print_table,
    scratch_dir,
    scratch_root,
    settle,
    storage_read_bytes,
)
from benches.sipdata import (
    CLICKHOUSE_TYPES,
    DUCKDB_TYPES,
    HYENA_TYPES,
    QUERIES,
    SOURCE,
    Query,
    query_params,
    render,
    scan_table,
)
from hyena.kernels._jit import numba

LOAD_BATCH_ROWS = 100_000  # rows per append/insert message while loading
STREAM_ROWS = 100_000  # rows per chunk of the streamed full scan (memory goal)
MEMORY_LIMIT = 512 * MB
PEER_THREADS = 2


# --- systems ------------------------------------------------------------------------------------

class System(Protocol):
    """One system under test. Only `run` is timed."""

    label: str
    path: Path | None  # its files (None: nothing on disk, no cold runs)

    def load(self, table: pa.Table, path: Path) -> None: ...
    def open(self) -> None: ...
    def run(self, query: Query, params: dict) -> Any: ...
    def close(self) -> None: ...


def _schema_sql(table: pa.Table, types: dict[pa.DataType, str], nullable: Callable[[str], str],
                not_null: str = "") -> str:
    return ", ".join(f"{f.name} " + (nullable(types[f.type]) if f.nullable
                                      else types[f.type] + not_null) for f in table.schema)


class Hyena:
    """append_arrow per 100k-row batch, flush, then bloom filters on call_id (what a user
    looking up Call-IDs would add; q3 uses them)."""

    label = "hyena"

    def __init__(self) -> None:
        self.path: Path | None = None
        self.db: hyena.Database | None = None

    def load(self, table: pa.Table, path: Path) -> None:
        self.path = path
        db = hyena.open(path)
        try:
            for f in table.schema:
                if f.name != "ts":
                    db.add_column(f.name, HYENA_TYPES[f.type] + ("_sparse" if f.nullable else ""))
            for batch in table.to_batches(max_chunksize=LOAD_BATCH_ROWS):
                db.append_arrow(SOURCE, batch)
            db.flush()
            db.add_column_index("call_id")
        finally:
            db.close()

    def open(self) -> None:
        self.db = hyena.open(self.path)

    def run(self, query: Query, params: dict) -> Any:
        method, kwargs = query.hyena(params)
        return getattr(self.db, method)(**kwargs)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


class DuckDB:
    """An on-disk database file, loaded from the Arrow table in one INSERT ... SELECT and
    CHECKPOINTed; queries with threads = 2, results fetched with to_arrow_table()."""

    label = "DuckDB"

    def __init__(self) -> None:
        self.path: Path | None = None
        self.con = None

    def load(self, table: pa.Table, path: Path) -> None:
        import duckdb
        self.path = path
        con = duckdb.connect(str(path / "scan.duckdb"))
        try:
            con.execute(f"SET threads = {PEER_THREADS}")
            con.execute(f"CREATE TABLE t ({_schema_sql(table, DUCKDB_TYPES, str, ' NOT NULL')})")
            con.register("source_rows", table)
            con.execute("INSERT INTO t SELECT * FROM source_rows")
            con.unregister("source_rows")
            con.execute("CHECKPOINT")
        finally:
            con.close()

    def open(self) -> None:
        import duckdb
        self.con = duckdb.connect(str(self.path / "scan.duckdb"), read_only=True)
        self.con.execute(f"SET threads = {PEER_THREADS}")

    def run(self, query: Query, params: dict) -> Any:
        return self.con.execute(render(query, "t", params)).to_arrow_table()

    def close(self) -> None:
        if self.con is not None:
            self.con.close()  # the last connection: the buffer manager goes with it
            self.con = None


class Chdb:
    """A MergeTree table ORDER BY ts in an on-disk chdb Session, loaded by one streaming
    ArrowStream INSERT and merged into one part (OPTIMIZE FINAL, as a server would merge in
    the background); queries with max_threads = 2, results as ArrowTable.

    ClickHouse's query condition cache (on by default) remembers which granules a filter
    matched, so repeated warm runs of q2-q6 skip most of the table; `condition_cache=False`
    measures the scans without it."""

    _EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
    _CACHES = ["MARK", "UNCOMPRESSED", "QUERY CONDITION", "PRIMARY INDEX", "MMAP", "PAGE",
               "QUERY"]

    def __init__(self, condition_cache: bool = True) -> None:
        self.condition_cache = condition_cache
        self.label = "chDB" if condition_cache else "chDB no cc"
        self.path: Path | None = None
        self.session = None

    def load(self, table: pa.Table, path: Path) -> None:
        from chdb.session import Session
        self.path = path
        session = Session(str(path / "chdb"))
        try:
            cols = _schema_sql(table, CLICKHOUSE_TYPES, lambda t: f"Nullable({t})")
            session.query(f"CREATE TABLE t ({cols}) ENGINE = MergeTree ORDER BY ts")
            inserter = session.send_insert("INSERT INTO t", "ArrowStream")
            inserter.append(memoryview(table.schema.serialize()))
            for batch in table.to_batches(max_chunksize=LOAD_BATCH_ROWS):
                inserter.append(memoryview(batch.serialize()))
            inserter.append(self._EOS)
            inserter.finish()
            session.query("OPTIMIZE TABLE t FINAL")
        finally:
            session.close()

    def open(self) -> None:
        from chdb.session import Session
        self.session = Session(str(self.path / "chdb"))

    def run(self, query: Query, params: dict) -> Any:
        settings = f" SETTINGS max_threads = {PEER_THREADS}"
        if not self.condition_cache:
            settings += ", use_query_condition_cache = 0"
        return self.session.query(render(query, "t", params) + settings, "ArrowTable")

    def close(self) -> None:
        if self.session is not None:
            for cache in self._CACHES:  # engine-wide caches may outlive the session
                self.session.query(f"SYSTEM DROP {cache} CACHE")
            self.session.close()
            self.session = None


# --- the lower bound ----------------------------------------------------------------------------

_PIECES = 64  # work units of the parallel kernels (more than threads: uneven pieces balance)
# Indexes are unsigned: numba checks every signed index for wrap-around (a negative index
# counts from the end), which keeps loops from vectorising (hyena's kernels do the same).
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U8 = np.uint64(8)
_LOW = np.uint64(0x0101010101010101)
_HIGH = np.uint64(0x8080808080808080)


@numba.njit(nogil=True, cache=True)
def _piece(n: int, k: int) -> tuple[np.uint64, np.uint64]:
    return np.uint64(n * k // _PIECES), np.uint64(n * (k + 1) // _PIECES)


@numba.njit(nogil=True, cache=True, parallel=True)
def _hits_code(codes: np.ndarray, a: int, b: int, code: int, out: np.ndarray,
               counts: np.ndarray) -> None:
    """Rows a <= i < b with codes[i] == code, each piece's into out[piece start:] (every row
    number is written, the count moves past hits only: no branch per row)."""
    base = np.uint64(a)
    c = np.uint8(code)
    for k in numba.prange(_PIECES):
        lo, hi = _piece(b - a, k)
        found = lo
        for i in range(lo, hi):
            out[found] = np.int64(base + i)
            found += np.uint64(codes[base + i] == c)
        counts[k] = np.int64(found - lo)


@numba.njit(nogil=True, cache=True, parallel=True)
def _hits_equal(offsets: np.ndarray, data: np.ndarray, needle: np.ndarray, out: np.ndarray,
                counts: np.ndarray) -> None:
    m = np.uint64(needle.shape[0])
    n = offsets.shape[0] - 1
    first = needle[0]
    for k in numba.prange(_PIECES):
        lo, hi = _piece(n, k)
        found = lo
        for i in range(lo, hi):
            s = np.uint64(offsets[i])
            if np.uint64(offsets[i + _U1]) - s != m or data[s] != first:
                continue
            same = True
            for j in range(_U1, m):
                if data[s + j] != needle[j]:
                    same = False
                    break
            if same:
                out[found] = np.int64(i)
                found += _U1
        counts[k] = np.int64(found - lo)


@numba.njit(nogil=True, cache=True, inline="always")
def _row_of(offsets: np.ndarray, p: np.uint64, row: np.uint64) -> np.uint64:
    """The row holding byte p, searched from `row` on: galloping, then binary search (hits
    are far apart, so stepping row by row would read every offset with a branch)."""
    if np.uint64(offsets[row + _U1]) > p:
        return row
    lo = row  # offsets[lo + 1] <= p
    step = _U1
    hi = row + step
    last = np.uint64(offsets.shape[0] - 2)
    while hi < last and np.uint64(offsets[hi + _U1]) <= p:
        lo = hi
        step += step
        hi = min(last, row + step)
    while hi - lo > _U1:  # offsets[lo + 1] <= p < offsets[hi + 1]
        mid = (lo + hi) >> _U1
        if np.uint64(offsets[mid + _U1]) <= p:
            lo = mid
        else:
            hi = mid
    return hi


@numba.njit(nogil=True, cache=True, inline="always")
def _match_at(offsets: np.ndarray, data: np.ndarray, needle: np.ndarray, p: np.uint64,
              row: np.uint64) -> tuple[np.uint64, bool]:
    """(the row holding byte p, found from `row` on; whether the needle starts at p and ends
    inside that row)."""
    row = _row_of(offsets, p, row)
    m = np.uint64(needle.shape[0])
    if p + m > np.uint64(offsets[row + _U1]):
        return row, False
    for j in range(_U1, m):
        if data[p + j] != needle[j]:
            return row, False
    return row, True


@numba.njit(nogil=True, cache=True, parallel=True)
def _hits_contains(offsets: np.ndarray, data: np.ndarray, words: np.ndarray,
                   needle: np.ndarray, out: np.ndarray, counts: np.ndarray) -> None:
    """Rows whose string contains the needle, by one pass over the bytes 8 at a time (`words`
    is `data` viewed as uint64): only words holding the needle's first byte are looked at."""
    n = offsets.shape[0] - 1
    first = needle[0]
    pattern = np.uint64(first) * _LOW
    for k in numba.prange(_PIECES):
        lo, hi = _piece(n, k)
        found = lo
        row = lo
        last = np.uint64(n)  # the last row credited (n: none yet)
        a = np.uint64(offsets[lo])
        b = np.uint64(offsets[hi])
        w_first = (a + np.uint64(7)) >> np.uint64(3)
        w_end = b >> np.uint64(3)
        # head bytes, whole words, tail bytes
        p = a
        head_end = min(b, w_first * _U8)
        while p < head_end:
            if data[p] == first:
                row, ok = _match_at(offsets, data, needle, p, row)
                if ok and row != last:
                    out[found] = np.int64(row)
                    found += _U1
                    last = row
            p += _U1
        for w in range(w_first, max(w_first, w_end)):
            x = words[w] ^ pattern
            if ((x - _LOW) & ~x & _HIGH) == _U0:
                continue
            for p in range(w * _U8, w * _U8 + _U8):
                if data[p] == first:
                    row, ok = _match_at(offsets, data, needle, p, row)
                    if ok and row != last:
                        out[found] = np.int64(row)
                        found += _U1
                        last = row
        p = max(head_end, w_end * _U8)
        while p < b:
            if data[p] == first:
                row, ok = _match_at(offsets, data, needle, p, row)
                if ok and row != last:
                    out[found] = np.int64(row)
                    found += _U1
                    last = row
            p += _U1
        counts[k] = np.int64(found - lo)


@numba.njit(nogil=True, cache=True, parallel=True)
def _hits_in(values: np.ndarray, members: np.ndarray, out: np.ndarray,
             counts: np.ndarray) -> None:
    """Rows whose value is one of 1..8 members: 64 rows at a time are tested without a branch
    (a vectorised OR), and only blocks with a hit (rare) are looked at row by row."""
    last = members.shape[0] - 1
    s0, s1, s2, s3 = members[0], members[min(1, last)], members[min(2, last)], \
        members[min(3, last)]
    s4, s5, s6, s7 = members[min(4, last)], members[min(5, last)], members[min(6, last)], \
        members[min(7, last)]
    n = values.shape[0]
    block = np.uint64(64)
    for k in numba.prange(_PIECES):
        lo, hi = _piece(n, k)
        found = lo
        i = lo
        while i < hi:
            size = min(block, hi - i)
            hit = False
            for r in range(size):
                v = values[i + r]
                hit |= ((v == s0) | (v == s1) | (v == s2) | (v == s3) | (v == s4) |
                        (v == s5) | (v == s6) | (v == s7))
            if hit:
                for r in range(size):
                    v = values[i + r]
                    if ((v == s0) | (v == s1) | (v == s2) | (v == s3) | (v == s4) |
                            (v == s5) | (v == s6) | (v == s7)):
                        out[found] = np.int64(i + r)
                        found += _U1
            i += size
        counts[k] = np.int64(found - lo)


@numba.njit(nogil=True, cache=True, parallel=True)
def _bincount(codes: np.ndarray, entries: int) -> np.ndarray:
    """Four histograms per piece, so runs of equal codes do not wait on each increment (the
    fastest of the variants tried, comparisons per code included)."""
    per_piece = np.zeros((_PIECES, 256), dtype=np.int64)
    n = codes.shape[0]
    four = np.uint64(4)
    for k in numba.prange(_PIECES):
        lo, hi = _piece(n, k)
        local = np.zeros((4, 256), dtype=np.int64)
        i = lo
        while i + four <= hi:
            local[0, np.uint64(codes[i])] += 1
            local[1, np.uint64(codes[i + _U1])] += 1
            local[2, np.uint64(codes[i + np.uint64(2)])] += 1
            local[3, np.uint64(codes[i + np.uint64(3)])] += 1
            i += four
        while i < hi:
            local[0, np.uint64(codes[i])] += 1
            i += _U1
        for e in range(256):
            per_piece[k, e] = local[0, e] + local[1, e] + local[2, e] + local[3, e]
    return per_piece.sum(axis=0)[:entries]


@numba.njit(nogil=True, cache=True)
def _compact(out: np.ndarray, counts: np.ndarray, n: int) -> int:
    """Move each piece's hits to the front of out; return how many there are."""
    total = _U0
    for k in range(_PIECES):
        lo, _ = _piece(n, k)
        for j in range(np.uint64(counts[k])):
            out[total + j] = out[lo + j]
        total += np.uint64(counts[k])
    return np.int64(total)


@numba.njit(nogil=True, cache=True)
def _gather_strings(offsets: np.ndarray, data: np.ndarray, rows: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    out_offsets = np.empty(rows.shape[0] + 1, dtype=np.int32)
    out_offsets[0] = 0
    total = _U0
    for i in range(np.uint64(rows.shape[0])):
        r = np.uint64(rows[i])
        total += np.uint64(offsets[r + _U1]) - np.uint64(offsets[r])
        out_offsets[i + _U1] = total
    out = np.empty(total, dtype=np.uint8)
    for i in range(np.uint64(rows.shape[0])):
        s = np.uint64(offsets[np.uint64(rows[i])])
        o = np.uint64(out_offsets[i])
        for j in range(np.uint64(out_offsets[i + _U1]) - o):
            out[o + j] = data[s + j]
    return out_offsets, out


@dataclass
class _Strings:
    """A string column as its Arrow buffers: int32 offsets and UTF-8 bytes."""

    offsets: np.ndarray
    data: np.ndarray
    words: np.ndarray  # data viewed as uint64 (its whole words)

    @classmethod
    def of(cls, column: pa.ChunkedArray) -> "_Strings":
        array = column.combine_chunks()
        offsets = np.frombuffer(array.buffers()[1], np.int32, len(array) + 1, array.offset * 4)
        data = np.frombuffer(array.buffers()[2], np.uint8)
        return cls(offsets, data, data[:len(data) // 8 * 8].view(np.uint64))

    def take(self, rows: np.ndarray) -> pa.Array:
        offsets, data = _gather_strings(self.offsets, self.data, rows)
        return pa.StringArray.from_buffers(len(rows), pa.py_buffer(offsets), pa.py_buffer(data))


class LowerBound:
    """The same columns as plain in-memory arrays, each query one hand-written numba kernel
    (two threads, as the peers get) plus the gather of its result into an Arrow table. ts is
    sorted, so a time range is two binary searches (what zone maps give); method, with six
    values, is held as u8 codes; other strings as Arrow offsets + bytes. No cold runs: there
    are no files."""

    label = "lower bound"
    path = None

    def load(self, table: pa.Table, path: Path) -> None:
        self.ts = table.column("ts").to_numpy()
        self.src_ip = table.column("src_ip").to_numpy()
        encoded = table.column("method").combine_chunks().dictionary_encode()
        self.method_names = encoded.dictionary.to_pylist()
        self.method = encoded.indices.to_numpy().astype(np.uint8)
        self.call_id = _Strings.of(table.column("call_id"))
        self.from_user = _Strings.of(table.column("from_user"))
        self.out = np.empty(len(self.ts), dtype=np.int64)  # reused, like hyena's scratch
        self.counts = np.empty(_PIECES, dtype=np.int64)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, query: Query, params: dict) -> Any:
        return getattr(self, query.name)(params)

    def _rows(self, n: int) -> np.ndarray:
        return self.out[:_compact(self.out, self.counts, n)]

    def _time_range(self, params: dict) -> tuple[int, int]:
        return (int(np.searchsorted(self.ts, np.uint64(params["lo"]))),
                int(np.searchsorted(self.ts, np.uint64(params["hi"]))))

    def _table(self, rows: np.ndarray, **columns: Callable[[np.ndarray], pa.Array]) -> pa.Table:
        return pa.table({name: make(rows) for name, make in columns.items()})

    def q1(self, params: dict) -> pa.Table:
        a, b = self._time_range(params)
        return pa.table({"count": pa.array([b - a], pa.int64())})

    def q2(self, params: dict) -> pa.Table:
        a, b = self._time_range(params)
        _hits_code(self.method, a, b, self.method_names.index("INVITE"), self.out, self.counts)
        rows = self._rows(b - a)
        return self._table(rows, ts=lambda r: pa.array(self.ts[r]), call_id=self.call_id.take)

    def q3(self, params: dict) -> pa.Table:
        needle = np.frombuffer(params["needle"].encode(), np.uint8)
        _hits_equal(self.call_id.offsets, self.call_id.data, needle, self.out, self.counts)
        rows = self._rows(len(self.ts))
        return self._table(rows, ts=lambda r: pa.array(self.ts[r]), call_id=self.call_id.take,
                           method=self._methods)

    def q4(self, params: dict) -> pa.Table:
        needle = np.frombuffer(b"abc", np.uint8)
        _hits_contains(self.from_user.offsets, self.from_user.data, self.from_user.words,
                       needle, self.out, self.counts)
        rows = self._rows(len(self.ts))
        return self._table(rows, ts=lambda r: pa.array(self.ts[r]),
                           from_user=self.from_user.take)

    def q5(self, params: dict) -> pa.Table:
        counts = _bincount(self.method, len(self.method_names))
        return pa.table({"method": self.method_names, "count": counts})

    def q6(self, params: dict) -> pa.Table:
        members = np.array(params["ips"], dtype=np.uint32)
        _hits_in(self.src_ip, members, self.out, self.counts)
        rows = self._rows(len(self.ts))
        return self._table(rows, ts=lambda r: pa.array(self.ts[r]), call_id=self.call_id.take)

    def _methods(self, rows: np.ndarray) -> pa.Array:
        return pa.array(self.method_names, pa.string()).take(pa.array(self.method[rows]))


SYSTEMS: dict[str, Callable[[], System]] = {
    "hyena": Hyena, "duckdb": DuckDB, "chdb": Chdb, "bound": LowerBound,
}


# --- answers ------------------------------------------------------------------------------------

def answer(query: Query, result: Any) -> tuple:
    """A system's result reduced to what every system must agree on: the count (q1), the
    groups (q5), or the row count and the wrapping sum of the rows' timestamps."""
    if isinstance(result, dict):
        return tuple(sorted(result.items()))
    if isinstance(result, (int, np.integer)):
        return (int(result),)
    if query.name == "q1":
        return (int(result.column(0)[0].as_py()),)
    if query.name == "q5":
        pairs = zip(result.column(0).to_pylist(), result.column(1).to_pylist())
        return tuple(sorted((k, int(v)) for k, v in pairs))
    ts = result.column("ts").to_numpy()
    return (result.num_rows, int(np.add.reduce(ts.astype(np.uint64), dtype=np.uint64)))


def result_rows(query: Query, answer: tuple) -> int:
    """What the `rows` column shows: the count (q1), the number of groups (q5), or rows."""
    return len(answer) if query.name == "q5" else answer[0]


# --- measuring ----------------------------------------------------------------------------------

@dataclass
class Timing:
    system: str
    query: str
    warm_s: float | None = None
    cold_s: float | None = None
    cold_read: int | None = None  # bytes read from storage by the cold run
    answer: tuple | None = None


@dataclass
class Loaded:
    system: System
    load_s: float
    disk_bytes: int


def _disk_bytes(path: Path | None) -> int:
    if path is None:
        return 0
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def load(name: str, table: pa.Table, root: Path) -> Loaded:
    system = SYSTEMS[name]()
    path = root / name
    path.mkdir()
    settle()
    start = time.perf_counter()
    system.load(table, path)
    seconds = time.perf_counter() - start
    if system.path is None:
        path.rmdir()
    return Loaded(system, seconds, _disk_bytes(system.path))


def measure_warm(system: System, params: dict, repeats: int) -> list[Timing]:
    """Per query: one untimed run, then the median of `repeats` timed runs."""
    out = []
    system.open()
    try:
        for query in QUERIES:
            answer_of_run = answer(query, system.run(query, params))
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                result = system.run(query, params)
                times.append(time.perf_counter() - start)
                del result
            out.append(Timing(system.label, query.name, statistics.median(times),
                              answer=answer_of_run))
    finally:
        system.close()
    return out


def measure_cold(system: System, params: dict) -> dict[str, tuple[float, tuple, int]]:
    """Per query: drop the files from the page cache, open, time the first run (and count the
    bytes it read from storage), close."""
    out = {}
    for query in QUERIES:
        gc.collect()  # no result may keep a map alive: mapped pages cannot be dropped
        drop_page_cache(system.path)
        system.open()
        try:
            read_before = storage_read_bytes()
            start = time.perf_counter()
            result = system.run(query, params)
            seconds = time.perf_counter() - start
            out[query.name] = (seconds, answer(query, result),
                               storage_read_bytes() - read_before)
            del result
        finally:
            system.close()
    return out


# --- memory of a streamed full scan (in a fresh process) ---------------------------------------

def _touch(batch: pa.RecordBatch | pa.Table) -> int:
    """Read one byte of every 4 KiB page of every buffer, as a consumer reading it would."""
    total = 0
    for column in batch.columns:
        arrays = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        for array in arrays:
            for buf in array.buffers():
                if buf is not None and buf.size:
                    total += int(np.frombuffer(buf, np.uint8)[::4096].sum())
    return total


def probe_memory(system: str, path: str, row_limit: int) -> dict:
    """Stream every row and column of the table at `path`; RSS figures of this process."""
    start_rss = current_rss()
    rows = chunks = 0
    began = time.perf_counter()
    if system == "hyena":
        db = hyena.open(path)
        baseline = current_rss()
        for table in db.scan_iter(row_limit=row_limit):
            _touch(table)
            rows += table.num_rows
            chunks += 1
            del table
        db.close()
    else:
        import duckdb
        con = duckdb.connect(str(Path(path) / "scan.duckdb"), read_only=True)
        con.execute(f"SET threads = {PEER_THREADS}")
        baseline = current_rss()
        for batch in con.sql("SELECT * FROM t").to_arrow_reader(row_limit):
            _touch(batch)
            rows += batch.num_rows
            chunks += 1
            del batch
        con.close()
    return {"rows": rows, "chunks": chunks, "seconds": time.perf_counter() - began,
            "start_rss": start_rss, "baseline_rss": baseline, "peak_rss": peak_rss()}


def measure_memory(system: str, path: Path, row_limit: int) -> dict:
    """probe_memory in a fresh interpreter (the benchmark's own table does not count)."""
    drop_page_cache(path)
    cmd = [sys.executable, "-m", "benches.scan", "--probe-memory", system, str(path),
           "--row-limit", str(row_limit)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- reporting ----------------------------------------------------------------------------------

def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.2f}" if seconds < 0.01 else f"{seconds * 1e3:.1f}"


def _ratio(peer: float | None, mine: float | None) -> str:
    return f"{peer / mine:.2f}" if peer and mine else "-"


def report_latency(kind: str, timings: dict[tuple[str, str], Timing], labels: list[str],
                   attr: str, read_bytes: bool = False) -> None:
    """One row per query: latency of every system, then peer ÷ hyena (> 1: hyena faster);
    with `read_bytes`, the MB each system's run read from storage."""
    peers = [label for label in labels if label != "hyena"]
    rows = []
    for query in QUERIES:
        cells = {label: getattr(timings.get((label, query.name)), attr, None) for label in labels}
        ref = timings.get(("hyena", query.name)) or timings.get((labels[0], query.name))
        row = [query.name, fmt_count(result_rows(query, ref.answer)) if ref else "-",
               *[_ms(cells[label]) for label in labels],
               *[_ratio(cells[p], cells.get("hyena")) for p in peers]]
        if read_bytes:
            row += [_mb(getattr(timings.get((label, query.name)), "cold_read", None))
                    for label in labels]
        rows.append(row)
    headers = ["query", "rows", *[f"{label} ms" for label in labels],
               *[f"{p} ÷ hyena" for p in peers]]
    if read_bytes:
        headers += [f"{label} MB read" for label in labels]
    print_table(headers, rows, kind)


def _mb(nbytes: int | None) -> str:
    return "-" if nbytes is None else f"{nbytes / MB:.1f}"


def check_answers(timings: dict[tuple[str, str], Timing], labels: list[str]) -> list[str]:
    """Mismatches between systems' answers (warm and cold), loudly."""
    problems = []
    for query in QUERIES:
        seen = {label: timings[(label, query.name)].answer for label in labels
                if (label, query.name) in timings}
        reference = next(iter(seen.values()), None)
        for label, got in seen.items():
            if got != reference:
                problems.append(f"{query.name}: {label} answered {str(got)[:80]}, "
                                f"{next(iter(seen))} {str(reference)[:80]}")
    return problems


@dataclass
class Goal:
    text: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'MISS'}  {self.text}: {self.detail}"


def latency_goals(timings: dict[tuple[str, str], Timing]) -> list[Goal]:
    """hyena ≤ the faster of DuckDB and chDB (warm and cold), and ≤ 2x the lower bound."""
    goals = []
    for query in QUERIES:
        mine = timings.get(("hyena", query.name))
        if mine is None:
            continue
        for kind in ("warm", "cold"):
            peers = {label: getattr(timings.get((label, query.name)), f"{kind}_s", None)
                     for label in ("DuckDB", "chDB")}
            peers = {k: v for k, v in peers.items() if v}
            hy = getattr(mine, f"{kind}_s")
            if peers and hy:
                best = min(peers, key=peers.get)
                goals.append(Goal(f"{query.name} {kind}: hyena ≤ faster of DuckDB/chDB",
                                  hy <= peers[best],
                                  f"hyena {_ms(hy)} ms, {best} {_ms(peers[best])} ms "
                                  f"({peers[best] / hy:.2f}x)"))
        bound = timings.get(("lower bound", query.name))
        if bound and bound.warm_s and mine.warm_s:
            ratio = mine.warm_s / bound.warm_s
            goals.append(Goal(f"{query.name} warm: hyena within 2x of the lower bound",
                              ratio <= 2, f"hyena ÷ bound {ratio:.2f} (target ≤ 2; hyena "
                                          f"{_ms(mine.warm_s)} ms, bound {_ms(bound.warm_s)} ms)"))
    return goals


def report_q1(timings: dict[tuple[str, str], Timing], labels: list[str], read_bw: float) -> None:
    """q1 as bandwidth: the bytes of ts in the range (what a scan of it would read) per second.
    Above the memory read bandwidth means metadata (zone maps) answered part of it."""
    ref = timings.get(("hyena", "q1")) or timings.get((labels[0], "q1"))
    if ref is None:
        return
    nbytes = ref.answer[0] * 8
    rows = []
    for label in labels:
        t = timings.get((label, "q1"))
        if t is None:
            continue
        rows.append([label, _ms(t.warm_s), f"{nbytes / t.warm_s / GB:.1f}" if t.warm_s else "-",
                     f"{nbytes / t.warm_s / read_bw:.2f}" if t.warm_s else "-",
                     _ms(t.cold_s), f"{nbytes / t.cold_s / GB:.1f}" if t.cold_s else "-"])
    print_table(["system", "warm ms", "warm GB/s", "÷ memory read", "cold ms", "cold GB/s"],
                rows, f"q1 as bandwidth: {fmt_bytes(nbytes)} of ts in the range; memory read "
                      f"bandwidth (numpy sum, 512 MiB) {read_bw / GB:.1f} GB/s")


def report_memory(results: dict[str, dict], row_limit: int) -> list[Goal]:
    rows = []
    for system, r in results.items():
        rows.append([system, fmt_count(r["rows"]), r["chunks"], f"{r['seconds']:.2f}",
                     fmt_count(r["rows"] / r["seconds"]), fmt_bytes(r["start_rss"]),
                     fmt_bytes(r["baseline_rss"]), fmt_bytes(r["peak_rss"])])
    print_table(["system", "rows", "chunks", "s", "rows/s", "RSS at start", "RSS opened",
                 "peak RSS"], rows,
                f"streamed full scan, every column, {fmt_count(row_limit)}-row chunks, in a "
                f"fresh process from a cold page cache (each chunk's pages read)")
    hy = results.get("hyena")
    if hy is None:
        return []
    return [Goal("streamed full scan: peak RSS < 512 MB", hy["peak_rss"] < MEMORY_LIMIT,
                 f"{fmt_bytes(hy['peak_rss'])} with {fmt_count(row_limit)}-row chunks")]


# --- the run ------------------------------------------------------------------------------------

def run(args: argparse.Namespace, root: Path) -> list[Goal]:
    read_bw = memory_read_bandwidth()
    hyena.warm_up()
    start = time.perf_counter()
    table = scan_table(args.rows)
    params = query_params(table)
    print(f"table: {fmt_count(table.num_rows)} rows, {fmt_bytes(table.nbytes)} as Arrow, "
          f"generated in {time.perf_counter() - start:.1f} s; q3 needle {params['needle']}")
    timings: dict[tuple[str, str], Timing] = {}
    loads: list[tuple[str, Loaded]] = []
    memory: dict[str, dict] = {}
    with scratch_dir(root, "scan") as path:
        for name in args.systems:
            loaded = load(name, table, path)
            loads.append((name, loaded))
            system = loaded.system
            for t in measure_warm(system, params, args.repeats):
                timings[(t.system, t.query)] = t
            if system.path is not None and not args.no_cold:
                for qname, (seconds, ans, nbytes) in measure_cold(system, params).items():
                    timings[(system.label, qname)].cold_s = seconds
                    timings[(system.label, qname)].cold_read = nbytes
                    if ans != timings[(system.label, qname)].answer:
                        print(f"!!! {system.label} {qname}: cold answer differs from warm")
            if name == "chdb" and not args.no_condition_cache_row:
                variant = Chdb(condition_cache=False)
                variant.path = system.path
                for t in measure_warm(variant, params, args.repeats):
                    timings[(t.system, t.query)] = t
            if name == "hyena":
                print(f"cold sequential read of hyena's largest files (page-cache fill rate): "
                      f"{cold_read_bandwidth(system.path) / GB:.2f} GB/s")
            if name in ("hyena", "duckdb") and not args.no_memory:
                memory[system.label] = measure_memory(name, system.path, args.stream_rows)
        print_table(["system", "load s", "rows/s", "on disk"],
                    [[l.system.label, f"{l.load_s:.1f}", fmt_count(args.rows / l.load_s),
                      fmt_bytes(l.disk_bytes) if l.disk_bytes else "-"] for _, l in loads],
                    "loading (not part of any goal)")
    del table
    labels = list(dict.fromkeys(label for label, _ in timings))
    report_latency(f"warm latency: median of {args.repeats} runs after one untimed run",
                   timings, labels, "warm_s")
    if not args.no_cold:
        report_latency("cold latency: first run after close, page-cache drop of the system's "
                       "files and reopen; MB read = bytes the run read from storage",
                       timings, [l for l in labels if l not in ("lower bound", "chDB no cc")],
                       "cold_s", read_bytes=True)
    report_q1(timings, labels, read_bw)
    goals = latency_goals(timings)
    if memory:
        goals += report_memory(memory, args.stream_rows)
    problems = check_answers(timings, labels)
    print()
    for problem in problems:
        print(f"!!! ANSWERS DIFFER: {problem}")
    if not problems:
        print(f"answers agree: {', '.join(labels)} (row counts, groups, ts checksums)")
    return goals


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benches scan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="table rows (default 10M)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1M rows")
    parser.add_argument("--repeats", type=int, default=5, help="timed warm runs (default 5)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated subset of {','.join(SYSTEMS)}")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold runs")
    parser.add_argument("--no-memory", action="store_true", help="skip the streamed full scans")
    parser.add_argument("--no-condition-cache-row", action="store_true",
                        help="skip the chDB run without its query condition cache")
    parser.add_argument("--stream-rows", type=int, default=STREAM_ROWS,
                        help=f"rows per chunk of the streamed full scan (default {STREAM_ROWS})")
    parser.add_argument("--dir", help="scratch directory on the disk to measure "
                                      "(default: the temp dir, if not tmpfs)")
    parser.add_argument("--probe-memory", nargs=2, metavar=("SYSTEM", "PATH"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--row-limit", type=int, default=STREAM_ROWS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = min(args.rows, 1_000_000)
    args.systems = args.systems.split(",")
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.probe_memory:
        print(json.dumps(probe_memory(*args.probe_memory, args.row_limit)))
        return 0
    root = scratch_root(args.dir)
    print("scan benchmark (benches/scan.py)")
    for line in machine_summary(root):
        print(line)
    print(f"{fmt_count(args.rows)} rows; peers with {PEER_THREADS} threads; every result an "
          f"Arrow table (hyena's counts an int/dict); ÷ hyena = that system's ms ÷ hyena's "
          f"(> 1: hyena faster)")
    began = time.perf_counter()
    goals = run(args, root)
    print(f"\nrun took {time.perf_counter() - began:.0f} s")
    print("\nissue goals:")
    for goal in goals:
        print(goal.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
