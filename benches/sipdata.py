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
           "Query", "QUERIES", "query_params", "render", "HYENA_TYPES", "DUCKDB_TYPES", "CLICKHOUSE_TYPES",
           "CAPTURE_SOURCE", "capture_table",
           "address_text", "hep_packets", "HEP_TABLE", "HEP_QUERIES", "hep_query_params",
           "hep_render", "iso_time"]

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
    cols, rng, users = _sip_columns(rows, seed, to_user)
    if payload:
        cols["payload"] = _payload(cols, rng, users)
    return _declare(cols, sparse={"code"})


def _sip_columns(rows: int, seed: int, to_user: bool
                 ) -> tuple[dict[str, pa.Array], np.random.Generator, list[str]]:
    """sip_template's columns without the payload, and the generator to draw the payload's
    random parts from next (so the payload can be built in pieces)."""
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
    return cols, rng, users


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

SCAN_PIECE_ROWS = 1_000_000  # payload chunks: one Arrow string array holds at most 2 GiB


def scan_table(rows: int, payload: bool = True, seed: int = 7) -> pa.Table:
    """The scan benchmark's table: ts, src/dst ip, ports, method, call_id, from/to user, sparse
    code, payload (~300 B), `rows` distinct rows (no cycling).

    The payload column is built (and chunked) SCAN_PIECE_ROWS rows at a time, since 10M
    payloads exceed what one Arrow string array can hold; up to that size the rows are those
    of `sip_template(rows, payload, seed, to_user=True)`."""
    cols, rng, users = _sip_columns(rows, seed, to_user=True)
    if payload:
        pieces = [_payload({k: v.slice(s, SCAN_PIECE_ROWS) for k, v in cols.items()}, rng, users)
                  for s in range(0, rows, SCAN_PIECE_ROWS)]
        cols["payload"] = pa.chunked_array(pieces, pa.string())
    fields = [pa.field("ts", pa.uint64(), nullable=False)]
    fields += [pa.field(name, col.type, nullable=name == "code") for name, col in cols.items()]
    arrays = [pa.array(timestamps(rows), pa.uint64()), *cols.values()]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


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


# --- capture rows: hepserver's schema ------------------------------------------------------------

CAPTURE_SOURCE = 1  # HEP type 1 (SIP): the partition group the capture daemon stores SIP in
DOMAINS = ["example.com", "voip.example.net", "pbx1.example.org", "pbx2.example.org",
           "sip.carrier.example", "ims.example.de", "tel.example.fr", "atlanta.example.com"]
USER_AGENTS = ["Asterisk PBX 20.5.0", "FreeSWITCH-mod_sofia/1.10.11",
               "Yealink SIP-T46U 108.86.0.45", "Zoiper rv2.10.19.6",
               "Kamailio (5.7.4 (x86_64/linux))", "PolycomVVX-VVX_450-UA/6.4.6.2494"]
NODES = ["sbc-fra-1", "sbc-fra-2", "sbc-ams-1", "core-par-1"]
IPV6_SHARE = 0.1  # rows whose addresses are IPv6 (2001:db8::/32); the rest are IPv4 (mapped)
_CALL_LIKE = {"INVITE", "ACK", "BYE", "CANCEL"}  # of METHODS: Homer's "call" table


def _u128(lo: np.ndarray, hi: np.ndarray) -> pa.Array:
    """hyena's u128 form: binary(16) holding the little-endian value ([low, high] words)."""
    words = np.empty((len(lo), 2), dtype=np.uint64)
    words[:, 0], words[:, 1] = lo, hi
    return pa.Array.from_buffers(pa.binary(16), len(lo), [None, pa.py_buffer(words)])


def _addresses(rng: np.random.Generator, v4: np.ndarray, v6: np.ndarray) -> pa.Array:
    """IPv4 `v4` mapped into IPv6 (::ffff:a.b.c.d), or 2001:db8:<random> where `v6`."""
    lo = np.uint64(0xFFFF00000000) | v4.astype(np.uint64)
    hi = np.zeros(len(v4), dtype=np.uint64)
    lo[v6] = _mix(v4[v6].astype(np.uint64))
    hi[v6] = np.uint64(0x20010DB8 << 32) | (v4[v6].astype(np.uint64) & np.uint64(0xFFFF))
    return _u128(lo, hi)


def _where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    """`values` where mask, null elsewhere."""
    return pc.if_else(pa.array(mask), values, pa.scalar(None, values.type))


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; a null part makes the row null."""
    return pc.binary_join_element_wise(*[pa.scalar(p) if isinstance(p, str) else p
                                         for p in parts], "")


def _opt(*parts: pa.Array | str) -> pa.Array:
    """An optional header line: the joined parts, or "" where one of them is null."""
    return _join(*parts).fill_null("")


def _hex_strings(words: np.ndarray, digits: int) -> pa.Array:
    return _fixed_strings(_hex(words, digits))


def _capture_sip(rng: np.random.Generator, n: int) -> dict[str, pa.Array]:
    """The SIP columns as hepserver's parser fills them, and the message they came from."""
    users, hosts = user_pool(), [f"10.{i // 16}.{i % 16}.{(i * 7) % 250 + 1}" for i in range(256)]
    calls = rng.integers(0, max(n // 5, 1), n).astype(np.uint64)  # ~5 messages per call
    method_of = rng.choice(len(METHODS), n, p=METHOD_WEIGHTS)
    cseq_method = _pick(METHODS, method_of)
    response = rng.random(n) < CODE_SHARE
    codes = rng.choice(np.array(list(CODES), np.uint16), n)
    method_np = np.array(METHODS)[method_of]
    invite, register = method_np == "INVITE", method_np == "REGISTER"
    request = ~response
    from_user = _pick(users, (_mix(calls) % np.uint64(len(users))).astype(np.int64))
    to_user = _pick(users, (_mix(calls + np.uint64(7)) % np.uint64(len(users))).astype(np.int64))
    domain = _pick(DOMAINS, (calls % np.uint64(len(DOMAINS))).astype(np.int64))
    host = _pick(hosts, (_mix(calls + np.uint64(3)) % np.uint64(256)).astype(np.int64))
    with_to_tag = (response & (codes != 100)) | (request & np.isin(method_np, ["ACK", "BYE"]))
    with_contact = (request & (invite | register)) | (response & (codes == 200))
    with_sdp = invite & (request | np.isin(codes, [183, 200]))
    reasons = _pick(list(CODES.values()), np.searchsorted(np.array(list(CODES)), codes))
    cols: dict[str, pa.Array] = {
        "sip_method": _where(request, cseq_method),
        "sip_status": pa.array(codes, mask=request),
        "sip_reason": _where(response, reasons),
        "ruri": _where(request, _join("sip:", to_user, "@", domain)),
        "ruri_user": _where(request, to_user),
        "ruri_domain": _where(request, domain),
        "call_id": _call_ids(calls),
        "cseq_num": pa.array(rng.integers(1, 21, n, dtype=np.uint32)),
        "cseq_method": cseq_method,
        "from_user": from_user,
        "from_domain": domain,
        "from_tag": _hex_strings(_mix(calls + np.uint64(11)), 10),
        "to_user": to_user,
        "to_domain": domain,
        "to_tag": _where(with_to_tag, _hex_strings(_mix(calls + np.uint64(13)), 10)),
        "user_agent": _pick(USER_AGENTS, (calls % np.uint64(len(USER_AGENTS))).astype(np.int64)),
        "contact_user": _where(with_contact, from_user),
        "contact_domain": _where(with_contact, host),
        "expires": pa.array(np.full(n, 3600, np.uint32), mask=~(request & register)),
        "content_type": _where(with_sdp, pa.array(["application/sdp"] * n)),
        "pid_user": _where(request & invite & (rng.random(n) < 0.5), from_user),
        "auth_user": _where(request & register & (rng.random(n) < 0.5), from_user),
        "via_branch": _join("z9hG4bK", _hex_strings(_mix(np.arange(n, dtype=np.uint64)
                                                         + np.uint64(1 << 50)), 16)),
        "x_cid": pa.nulls(n, pa.string()),
        "sip_profile": _pick(["call", "registration", "default"],
                             np.where(np.isin(method_np, list(_CALL_LIKE)), 0,
                                      np.where(register, 1, 2))),
    }
    cols["payload"] = _sip_message(cols, rng, response, codes, with_sdp, host)
    return cols


def _sip_message(cols: dict[str, pa.Array], rng: np.random.Generator, response: np.ndarray,
                 codes: np.ndarray, with_sdp: np.ndarray, host: pa.Array) -> pa.Array:
    """The message text (~300-500 bytes, an SDP body on INVITEs and their 183/200)."""
    n = len(response)
    status = _join("SIP/2.0 ", pa.array(codes).cast(pa.string()), " ",
                   cols["sip_reason"].fill_null(""))
    first = pc.if_else(pa.array(response), status,
                       _join(cols["cseq_method"], " ", cols["ruri"].fill_null(""), " SIP/2.0"))
    port = pa.array(rng.integers(16384, 32768, n) * 2).cast(pa.string())
    sdp_host = _where(with_sdp, host)  # null: no body
    sdp = _opt("v=0\r\no=- ", cols["from_tag"], " 1 IN IP4 ", sdp_host, "\r\ns=-\r\nc=IN IP4 ",
               sdp_host,
               "\r\nt=0 0\r\nm=audio ", port, " RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
               "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
    length = pc.binary_length(sdp).cast(pa.string())
    return _join(
        first, "\r\nVia: SIP/2.0/UDP ", host, ":5060;branch=", cols["via_branch"],
        "\r\nFrom: <sip:", cols["from_user"], "@", cols["from_domain"], ">;tag=",
        cols["from_tag"], "\r\nTo: <sip:", cols["to_user"], "@", cols["to_domain"], ">",
        _opt(";tag=", cols["to_tag"]), "\r\nCall-ID: ", cols["call_id"],
        "\r\nCSeq: ", cols["cseq_num"].cast(pa.string()), " ", cols["cseq_method"], "\r\n",
        _opt("Contact: <sip:", cols["contact_user"], "@", cols["contact_domain"], ":5060>\r\n"),
        _opt("P-Asserted-Identity: <sip:", cols["pid_user"], "@", cols["from_domain"], ">\r\n"),
        _opt('Authorization: Digest username="', cols["auth_user"], '", realm="',
             cols["from_domain"], '"\r\n'),
        _opt("Expires: ", cols["expires"].cast(pa.string()), "\r\n"),
        "Max-Forwards: 70\r\nUser-Agent: ", cols["user_agent"], "\r\n",
        _opt("Content-Type: ", cols["content_type"], "\r\n"),
        "Content-Length: ", length, "\r\n\r\n", sdp)


def capture_table(rows: int, seed: int = 7, start: int = T0) -> pa.Table:
    """`rows` SIP packets as the capture daemon stores them (hepserver.schema, HEP type 1):
    `ts` 1..40 µs apart, 128-bit addresses (10 % IPv6), HEP header fields, the SIP columns its
    parser extracts and the message they were extracted from. Every schema column is present;
    HEP chunks SIP captures rarely carry are null. Built column-wise (deterministic, ~1M rows/s);
    a row's payload parses (hepserver.sip.parser) to its own SIP columns."""
    from hepserver.schema import FIELDS  # the benchmarks that do not need it run without it

    rng = np.random.default_rng(seed)
    v6 = rng.random(rows) < IPV6_SHARE
    sip = _capture_sip(rng, rows)
    cols: dict[str, pa.Array] = {
        "ts": pa.array(timestamps(rows, start=start), pa.uint64()),
        "ip_family": pa.array(np.where(v6, 10, 2).astype(np.uint8)),
        "ip_proto": pa.array(np.where(rng.random(rows) < 0.05, 6, 17).astype(np.uint8)),
        "src_ip": _addresses(rng, rng.integers(0x0A000000, 0x0A00FFFF, rows, np.uint32), v6),
        "dst_ip": _addresses(rng, rng.integers(0x0A000000, 0x0A0000FF, rows, np.uint32), v6),
        "src_port": pa.array(rng.integers(1024, 65535, rows, dtype=np.uint16)),
        "dst_port": pa.array(rng.choice(np.array([5060, 5061, 5080], np.uint16), rows,
                                        p=[0.9, 0.05, 0.05])),
        "hep_version": pa.array(np.full(rows, 3, np.uint8)),
        "capture_id": pa.array(rng.choice(np.array([2001, 2002, 2003], np.uint32), rows)),
        "node_name": _pick(NODES, rng.integers(0, len(NODES), rows)),
    }
    arrow = {"u8": pa.uint8(), "u16": pa.uint16(), "u32": pa.uint32(), "u64": pa.uint64(),
             "string": pa.string()}
    fields = [pa.field("ts", pa.uint64(), nullable=False)]
    arrays = [cols["ts"]]
    for f in FIELDS:
        label = f.type.removesuffix("_sparse")
        column = cols.get(f.name, sip.get(f.name))
        if column is None:  # a HEP chunk these captures do not carry
            column = pa.nulls(rows, arrow[label])
        fields.append(pa.field(f.name, column.type, nullable=f.type.endswith("_sparse")))
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# --- capture rows as HEP packets ----------------------------------------------------------------

def address_text(value: int) -> str:
    """A u128 address as the export writes it: IPv4-mapped as a dotted quad, else RFC 5952."""
    import ipaddress

    address = ipaddress.IPv6Address(value)
    return str(address.ipv4_mapped) if address.ipv4_mapped is not None else str(address)


def _u128_values(column: pa.ChunkedArray | pa.Array) -> list[int]:
    """hyena's u128 values (binary(16), little endian) as Python ints."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    words = np.frombuffer(array.buffers()[1], np.uint64, 2 * len(array), 16 * array.offset)
    return [int(lo) | int(hi) << 64 for lo, hi in words.reshape(-1, 2).tolist()]


def hep_packets(table: pa.Table, ts: Sequence[int] | None = None) -> list[bytes]:
    """HEPv3 packets of `capture_table` rows (their addresses, ports, IP protocol, capture id,
    node name and payload), with the rows' timestamps or `ts` instead: decoding one and parsing
    its SIP gives back its row."""
    from hepserver.hep.encode import encode_v3

    columns = [table.column(n).to_pylist() for n in
               ("payload", "src_port", "dst_port", "ip_proto", "capture_id", "node_name")]
    src = [address_text(v) for v in _u128_values(table.column("src_ip"))]
    dst = [address_text(v) for v in _u128_values(table.column("dst_ip"))]
    times = table.column("ts").to_pylist() if ts is None else list(ts)
    return [encode_v3(payload=payload.encode(), src_ip=s, dst_ip=d, src_port=sp, dst_port=dp,
                      ts_us=t, ip_proto=proto, capture_id=capture, node_name=node)
            for payload, sp, dp, proto, capture, node, s, d, t in zip(*columns, src, dst, times)]


# --- q1-q6 on the HEP tables (the HTTP API's `hep_1`) -------------------------------------------

HEP_TABLE = "hep_1"
_SPAN = "time >= '{start}' AND time < '{end}'"  # the whole data set: HEPop searches only the
_RANGE = "time >= '{lo}' AND time < '{hi}'"     # last 10 minutes without a time condition

HEP_QUERIES = [
    Query("q1", "count in a 10% time range",
          f"SELECT count(*) FROM {{t}} WHERE {_RANGE}"),
    Query("q2", "sip_method = 'INVITE' in the time range, time and call_id",
          f"SELECT time, call_id FROM {{t}} WHERE {_RANGE} AND sip_method = 'INVITE'"),
    Query("q3", "one call_id over everything",
          f"SELECT time, call_id, sip_method FROM {{t}} WHERE {_SPAN} AND call_id = '{{needle}}'"),
    Query("q4", "from_user contains 'abc'",
          f"SELECT time, from_user FROM {{t}} WHERE {_SPAN} AND from_user LIKE '%abc%'"),
    Query("q5", "count per sip_method",
          f"SELECT sip_method, count(*) FROM {{t}} WHERE {_SPAN} GROUP BY sip_method"),
    Query("q6", "src_ip in 5 values",
          f"SELECT time, call_id FROM {{t}} WHERE {_SPAN} AND src_ip IN ({{ips}})"),
]


def iso_time(us: int) -> str:
    """Microseconds since the epoch as ISO 8601 text with the UTC offset (exact)."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(us // 1_000_000, tz=timezone.utc).replace(
        microsecond=us % 1_000_000).isoformat()


def hep_query_params(table: pa.Table) -> dict:
    """The constants of the HEP q1-q6 for `capture_table` rows, chosen as `query_params`
    chooses them (a 10% time range in the middle, the middle row's Call-ID, 5 spread source
    addresses), as SQL text: ISO 8601 times, quoted addresses as the export writes them."""
    ts = table.column("ts")
    first, last = int(ts[0].as_py()), int(ts[-1].as_py())
    lo = first + (last - first) * 45 // 100
    n = table.num_rows
    addresses = _u128_values(table.column("src_ip"))
    ips = [address_text(addresses[i * n // 5 + n // 10]) for i in range(5)]
    return {"start": iso_time(first), "end": iso_time(last + 1), "lo": iso_time(lo),
            "hi": iso_time(lo + (last - first) // 10),
            "needle": table.column("call_id")[n // 2].as_py(),
            "ips": ", ".join(f"'{ip}'" for ip in ips)}


def hep_render(query: Query, params: dict, table: str = HEP_TABLE) -> str:
    """A HEP query's SQL for the constants of `hep_query_params`."""
    return query.sql.format(t=table, **params)
