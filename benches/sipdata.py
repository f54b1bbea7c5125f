"""The benchmarks' data: SIP-like rows as Arrow batches, and the scan issue's queries q1-q6.

Every benchmark that stores or queries SIP capture rows takes them from here, so their numbers
describe the same bytes. Rows are generated with numpy/pyarrow (a million rows a second or so),
deterministically from a seed; `ts` increases 1..40 microseconds per row.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["SOURCE", "T0", "TEMPLATE_ROWS", "METHODS", "CODES", "user_pool", "sip_template",
           "numeric_template", "timestamps", "split", "Workload", "workload", "scan_table",
           "Query", "QUERIES", "query_params", "render", "HYENA_TYPES", "DUCKDB_TYPES", "CLICKHOUSE_TYPES"]

SOURCE = 1  # hyena source (partition group) of the rows
T0 = 1_764_000_000_000_000  # microseconds: late 2025
TEMPLATE_ROWS = 1_000_000  # distinct rows generated; longer runs cycle through them

METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS"]
METHOD_WEIGHTS = [0.25, 0.2, 0.15, 0.05, 0.2, 0.15]
CODES = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 404: "Not Found",
         486: "Busy Here", 487: "Request Terminated", 503: "Service Unavailable"}
CODE_SHARE = 0.4  # rows that are responses (code not null)

# Arrow type -> the type of the same column in hyena, DuckDB and ClickHouse.
HYENA_TYPES = {pa.uint64(): "u64", pa.uint32(): "u32", pa.uint16(): "u16", pa.string(): "string"}
DUCKDB_TYPES = {pa.uint64(): "UBIGINT", pa.uint32(): "UINTEGER", pa.uint16(): "USMALLINT",
                pa.string(): "VARCHAR"}
CLICKHOUSE_TYPES = {pa.uint64(): "UInt64", pa.uint32(): "UInt32", pa.uint16(): "UInt16",
                    pa.string(): "String"}


# --- data ---------------------------------------------------------------------------------------

def _hex(words: np.ndarray, digits: int) -> np.ndarray:
    """(n, digits) uint8 matrix of lowercase hex digits of uint64 `words` (low nibble first)."""
    shifts = np.arange(digits, dtype=np.uint64) * np.uint64(4)
    nibbles = (words[:, None] >> shifts) & np.uint64(15)
    return np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles.astype(np.intp)]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: well-spread 64-bit words from counters (ids that look random)."""
    x = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _fixed_strings(matrix: np.ndarray) -> pa.Array:
    """A string array whose rows are the rows of a (n, width) uint8 matrix."""
    n, width = matrix.shape
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets),
                                       pa.py_buffer(np.ascontiguousarray(matrix)))


def _call_ids(calls: np.ndarray) -> pa.Array:
    """40-byte Call-IDs: 24 hex digits of a hash of the call number, '@pbx.example.net'."""
    digits = np.hstack([_hex(_mix(calls), 16), _hex(_mix(calls + (1 << 40)), 8)])
    suffix = np.frombuffer(b"@pbx.example.net", dtype=np.uint8)
    return _fixed_strings(np.hstack([digits, np.broadcast_to(suffix, (len(calls), 16))]))


def _pick(pool: Sequence[str], index: np.ndarray) -> pa.Array:
    return pa.array(pool, pa.string()).take(pa.array(index))


def _payload(cols: dict[str, pa.Array], rng: np.random.Generator, users: list[str]) -> pa.Array:
    """~300 bytes of SIP message per row, built from the row's own fields (so rows differ)."""
    n = len(cols["method"])
    to_user = cols["to_user"] if "to_user" in cols else _pick(users, rng.integers(0, len(users), n))
    request = pc.binary_join_element_wise(cols["method"], pa.scalar(" sip:"), to_user,
                                          pa.scalar("@example.com SIP/2.0"), "")
    code = cols["code"].fill_null(0).to_numpy()
    statuses = [f"SIP/2.0 {c} {reason}" for c, reason in CODES.items()]
    status = _pick(statuses, np.searchsorted(np.array(list(CODES)), code).clip(0, len(CODES) - 1))
    first = pc.if_else(pa.array(code > 0), status, request)
    hosts = [f"10.{i // 16}.{i % 16}.{(i * 7) % 250 + 1}" for i in range(256)]
    host = _pick(hosts, (cols["src_ip"].to_numpy() % 256).astype(np.int64))
    cseq = _pick([str(i) for i in range(1, 21)], rng.integers(0, 20, n))
    branch = pc.utf8_slice_codeunits(cols["call_id"], 0, 16)
    tag = pc.utf8_slice_codeunits(cols["call_id"], 16, 24)
    parts: list[pa.Array | str] = [
        first, "\r\nVia: SIP/2.0/UDP ", host, ":5060;branch=z9hG4bK", branch,
        "\r\nFrom: <sip:", cols["from_user"], "@example.com>;tag=", tag,
        "\r\nTo: <sip:", to_user, "@example.com>\r\nCall-ID: ", cols["call_id"],
        "\r\nCSeq: ", cseq, " ", cols["method"],
        "\r\nMax-Forwards: 70\r\nUser-Agent: hyena-bench/1.0\r\nContent-Length: 0\r\n\r\n",
    ]
    return pc.binary_join_element_wise(*[pa.scalar(p) if isinstance(p, str) else p
                                         for p in parts], "")


def user_pool() -> list[str]:
    """1,000 SIP users: phone numbers and names, 20 of which contain "abc" (query q4)."""
    return [f"nabc{i:04d}" if i % 50 == 7 else
            f"+4930{i * 7919 % 10**7:07d}" if i % 3 else f"user{i:04d}" for i in range(1000)]


def sip_template(rows: int, payload: bool, seed: int = 7, to_user: bool = False) -> pa.RecordBatch:
    """The SIP-like rows (without ts): ints, low/high/medium-cardinality strings, sparse code;
    `to_user` adds the callee column of the scan benchmark's table."""
    rng = np.random.default_rng(seed)
    users = user_pool()
    is_response = rng.random(rows) < CODE_SHARE
    cols: dict[str, pa.Array] = {
        "src_ip": pa.array(rng.integers(0x0A000000, 0x0A00FFFF, rows, dtype=np.uint32)),
        "dst_ip": pa.array(rng.integers(0x0A000000, 0x0A0000FF, rows, dtype=np.uint32)),
        "src_port": pa.array(rng.integers(1024, 65535, rows, dtype=np.uint16)),
        "dst_port": pa.array(rng.choice(np.array([5060, 5061, 5080], np.uint16), rows,
                                        p=[0.9, 0.05, 0.05])),
        "method": _pick(METHODS, rng.choice(len(METHODS), rows, p=METHOD_WEIGHTS)),
        "call_id": _call_ids(rng.integers(0, max(rows // 5, 1), rows)),
        "from_user": _pick(users, rng.integers(0, len(users), rows)),
        "code": pa.array(rng.choice(np.array(list(CODES), np.uint16), rows),
                         mask=~is_response),
    }
    if to_user:
        cols["to_user"] = _pick(users, rng.integers(0, len(users), rows))
    if payload:
        cols["payload"] = _payload(cols, rng, users)
    return _declare(cols, sparse={"code"})


def numeric_template(rows: int, seed: int = 7) -> pa.RecordBatch:
    """The numeric-only schema: the four ints and a dense u16 code (ts is added per batch)."""
    sip = sip_template(rows, payload=False, seed=seed)
    cols = {name: sip.column(name) for name in ("src_ip", "dst_ip", "src_port", "dst_port")}
    cols["code"] = pa.array(sip.column("code").fill_null(0).to_numpy())  # no validity bitmap
    return _declare(cols, sparse=set())


def _declare(cols: dict[str, pa.Array], sparse: set[str]) -> pa.RecordBatch:
    """A batch whose schema says which columns may hold nulls (sinks map them to sparse)."""
    schema = pa.schema([pa.field(name, col.type, nullable=name in sparse)
                        for name, col in cols.items()])
    return pa.RecordBatch.from_arrays(list(cols.values()), schema=schema)


def timestamps(rows: int, start: int = T0, seed: int = 11) -> np.ndarray:
    """Increasing microseconds, 1..40 µs apart (a busy capture point)."""
    steps = np.random.default_rng(seed).integers(1, 41, rows, dtype=np.uint64)
    return np.uint64(start) + np.cumsum(steps, dtype=np.uint64)


def split(template: pa.RecordBatch, batch_rows: int) -> list[pa.RecordBatch]:
    """Template rows as batches of `batch_rows` with buffers of their own (as if each had been
    received separately: offsets start at 0, no shared parent buffers)."""
    if batch_rows >= template.num_rows:
        return [template]
    out = []
    for start in range(0, template.num_rows, batch_rows):
        piece = template.slice(start, batch_rows)
        out.append(pa.RecordBatch.from_arrays([_compact(col) for col in piece.columns],
                                              schema=piece.schema))
    return out


def _compact(array: pa.Array) -> pa.Array:
    """A copy of a (sliced) array with fresh buffers starting at offset 0."""
    return array.take(pa.array(np.arange(len(array), dtype=np.int64)))


@dataclass
class Workload:
    """The batches one measurement appends, in order; `nbytes` is their raw column data."""

    batches: list[pa.RecordBatch]

    @property
    def rows(self) -> int:
        return sum(b.num_rows for b in self.batches)

    @property
    def schema(self) -> pa.Schema:
        return self.batches[0].schema

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.batches)


def workload(pieces: list[pa.RecordBatch], total_rows: int, ts: np.ndarray) -> Workload:
    """`total_rows` rows: the template pieces in a cycle, each with its slice of `ts` first."""
    schema = pa.schema([pa.field("ts", pa.uint64(), nullable=False), *pieces[0].schema])
    batches = []
    done = 0
    for piece in itertools.cycle(pieces):
        if done >= total_rows:
            break
        take = min(piece.num_rows, total_rows - done)
        piece = piece.slice(0, take) if take < piece.num_rows else piece
        ts_col = pa.array(ts[done:done + take])  # zero-copy view of the numpy slice
        batches.append(pa.RecordBatch.from_arrays([ts_col, *piece.columns], schema=schema))
        done += take
    return Workload(batches)


# --- the scan table and its queries -------------------------------------------------------------

def scan_table(rows: int, payload: bool = True, seed: int = 7) -> pa.Table:
    """The scan benchmark's table: ts, src/dst ip, ports, method, call_id, from/to user, sparse
    code, payload (~300 B), `rows` distinct rows (no cycling)."""
    template = sip_template(rows, payload=payload, seed=seed, to_user=True)
    ts = pa.array(timestamps(rows), pa.uint64())
    return pa.Table.from_batches([template]).add_column(
        0, pa.field("ts", pa.uint64(), nullable=False), ts)


@dataclass(frozen=True)
class Query:
    """One benchmark query, as SQL (`{t}` is the table, `{lo}`/`{hi}` the time range and
    `{needle}`/`{ips}` its constants) and as the arguments of a hyena call.

    `hyena` is (method, keyword arguments) for `Database.count`/`scan`; every system's answer
    is reduced to `rows` (a row count, or for q5 the number of groups) to check they agree.
    """

    name: str
    what: str
    sql: str

    def hyena(self, params: dict) -> tuple[str, dict]:
        lo, hi = params["lo"], params["hi"]
        return {
            "q1": ("count", dict(min_ts=lo, max_ts=hi)),
            "q2": ("scan", dict(min_ts=lo, max_ts=hi, columns=["ts", "call_id"],
                                filters=[("method", "==", "INVITE")])),
            "q3": ("scan", dict(columns=["ts", "call_id", "method"],
                                filters=[("call_id", "==", params["needle"])])),
            "q4": ("scan", dict(columns=["ts", "from_user"],
                                filters=[("from_user", "contains", "abc")])),
            "q5": ("count", dict(by="method")),
            "q6": ("scan", dict(columns=["ts", "call_id"],
                                filters=[("src_ip", "in", params["ips"])])),
        }[self.name]


QUERIES = [
    Query("q1", "count in a 10% time range",
          "SELECT count(*) FROM {t} WHERE ts >= {lo} AND ts < {hi}"),
    Query("q2", "method = 'INVITE' in the time range, ts and call_id",
          "SELECT ts, call_id FROM {t} WHERE ts >= {lo} AND ts < {hi} AND method = 'INVITE'"),
    Query("q3", "one call_id over everything",
          "SELECT ts, call_id, method FROM {t} WHERE call_id = '{needle}'"),
    Query("q4", "from_user contains 'abc'",
          "SELECT ts, from_user FROM {t} WHERE from_user LIKE '%abc%'"),
    Query("q5", "count per method",
          "SELECT method, count(*) FROM {t} GROUP BY method"),
    Query("q6", "src_ip in 5 values",
          "SELECT ts, call_id FROM {t} WHERE src_ip IN ({ips})"),
]


def query_params(table: pa.Table) -> dict:
    """The constants of q1-q6 for a table: a 10% time range in the middle, a Call-ID of the
    middle row, 5 source addresses taken from rows spread over the table."""
    ts = table.column("ts")
    first, last = int(ts[0].as_py()), int(ts[-1].as_py())
    lo = first + (last - first) * 45 // 100
    n = table.num_rows
    ips = [int(table.column("src_ip")[i * n // 5 + n // 10].as_py()) for i in range(5)]
    return {"lo": lo, "hi": lo + (last - first) // 10,
            "needle": table.column("call_id")[n // 2].as_py(), "ips": ips}


def render(query: Query, table: str, params: dict) -> str:
    """The query's SQL for a table name and constants."""
    return query.sql.format(t=table, lo=params["lo"], hi=params["hi"], needle=params["needle"],
                            ips=", ".join(str(i) for i in params["ips"]))
