"""Received packets -> Arrow record batches, many packets per call: the capture fast path.

`decode_spans(data, starts, lengths, arrival, auth_key)` (`decode_packets` for a list) runs
the HEP and SIP kernels (hepserver/hep/batch.py, hepserver/sip/batch.py) over all packets at
once and builds the same columns `rows.RowBuffer` builds one packet at a time, with the same counters. Packets
the kernels hand back (status SLOW: compressed payloads, text that is not UTF-8 or not ASCII
where the SIP parser's string rules apply, folded SIP headers) are returned by index, for the
per-packet path (decode + parse_sip + RowBuffer), which stays the reference: the tests check
that both paths store the same rows for any input.

Sparse columns that hold no value in a batch are left out of it: hyena stores nothing for them
either way and reads them back as nulls, and the writer does not have to look at them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyarrow as pa

from hepserver.hep.batch import (AUTH, FIXED_TYPES, OK, PAYLOAD, REJECTED, SLOW, SPAN_TYPES,
                                 HepBatch, decode_batch)
from hepserver.ingest.gather import bitmap, payload_array, string_columns
from hepserver.ingest.rows import HEP_ATTRIBUTES, SIP_ATTRIBUTES
from hepserver.schema import FIELDS
from hepserver.sip import batch as sipbatch

__all__ = ["Decoded", "decode_packets", "decode_spans", "sample_packets"]

_SIP = 1
_NUMPY = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64}
_TYPES = {f.name: f.type for f in FIELDS}
_DECODE_NAMES = {"ip_family": 0x01, "ip_proto": 0x02, "src_port": 0x07, "dst_port": 0x08,
                 "capture_id": 0x0C, "keepalive": 0x0D, "vlan": 0x12, "src_mac": 0x14,
                 "dst_mac": 0x15, "eth_type": 0x16, "tcp_flags": 0x17, "ip_tos": 0x18,
                 "mos": 0x20, "r_factor": 0x21, "jitter": 0x23, "tag_type": 0x27,
                 "event_type": 0x28}
_FIXED_SLOT = {name: [t for t, _ in FIXED_TYPES].index(ctype)
               for name, ctype in _DECODE_NAMES.items()}
_TEXT_SLOT = {"correlation_id": SPAN_TYPES.index(0x11), "node_name": SPAN_TYPES.index(0x13),
              "geo_location": SPAN_TYPES.index(0x22),
              "transaction_type": SPAN_TYPES.index(0x24),
              "payload_json_keys": SPAN_TYPES.index(0x25), "tag_values": SPAN_TYPES.index(0x26),
              "group_id": SPAN_TYPES.index(0x29)}
_SIP_SPAN = {column: sipbatch.SPANS.index(attr) for column, attr in SIP_ATTRIBUTES.items()
             if attr in sipbatch.SPANS}
_SIP_INTS = {"sip_status": "status_code", "cseq_num": "cseq_num", "expires": "expires"}
_PROFILES = pa.array(sipbatch.PROFILES, pa.string())
_DENSE = ("ip_family", "ip_proto", "src_port", "dst_port")
assert set(_FIXED_SLOT) | set(_TEXT_SLOT) | {"hep_version", "vendor_chunks"} == \
    set(HEP_ATTRIBUTES), "every HEP column has a source in the kernel's output"
assert set(_SIP_SPAN) | set(_SIP_INTS) | {"sip_profile"} == set(SIP_ATTRIBUTES)


@dataclass
class Decoded:
    """What the fast path made of a list of packets."""

    batches: dict[int, pa.RecordBatch] = field(default_factory=dict)  # by HEP type
    counters: Counter = field(default_factory=Counter)
    slow: list[int] = field(default_factory=list)  # indexes for the per-packet path


def decode_packets(packets: Sequence[bytes], arrival: np.ndarray,
                   auth_key: bytes | None = None) -> Decoded:
    """Decode a list of packets (arrival[i]: when packet i arrived, µs since the epoch)."""
    n = len(packets)
    lengths = np.fromiter(map(len, packets), np.int64, n)
    starts = np.zeros(n, np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    data = np.frombuffer(b"".join(packets), np.uint8)
    return decode_spans(data, starts, lengths, np.ascontiguousarray(arrival, np.int64),
                        auth_key)


def decode_spans(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                 arrival: np.ndarray, auth_key: bytes | None = None) -> Decoded:
    """Decode packet i = data[starts[i]:starts[i] + lengths[i]] for every i; the batches
    built hold copies, `data` may be reused afterwards."""
    out = Decoded()
    n = len(starts)
    if not n:
        return out
    hep = decode_batch(data, starts, lengths, arrival, auth_key)
    status = hep.status
    sip_rows = np.flatnonzero((status == OK) & (hep.proto_type == _SIP)
                              & (hep.span_length[PAYLOAD] > 0))
    sip = sipbatch.parse_batch(data, hep.span_start[PAYLOAD, sip_rows],
                               hep.span_length[PAYLOAD, sip_rows])
    status[sip_rows[sip.status == sipbatch.SLOW]] = SLOW
    slow = status == SLOW
    out.slow = np.flatnonzero(slow).tolist()
    _count(out.counters, status, slow, lengths, sip.status)
    sip_of = np.full(n, -1, np.int64)  # packet -> its row in `sip`, when it parsed
    parsed = sip.status == sipbatch.PARSED
    sip_of[sip_rows[parsed]] = np.flatnonzero(parsed)
    good = np.flatnonzero(status == OK)
    types = hep.proto_type[good]
    sources = np.unique(types).tolist()
    for source in sources:
        rows = good if len(sources) == 1 else good[types == source]
        out.batches[source] = _record_batch(data, hep, sip, sip_of[rows], rows)
    return out


def sample_packets() -> list[bytes]:
    """A few packets of each kind the kernels treat differently (warm-up: compile or load
    every kernel before the first real packet)."""
    from hepserver.hep.encode import encode_v2, encode_v3

    sip = (b"INVITE sip:b@x SIP/2.0\r\nFrom: <sip:a@y>;tag=1\r\nTo: <sip:b@x>\r\n"
           b"Call-ID: w@u\r\nCSeq: 1 INVITE\r\nContact: <sip:a@h>;expires=1\r\n"
           b"User-Agent: u\r\nAuthorization: Digest username=\"a\"\r\nX-CID: c\r\n\r\n")
    return [encode_v3(payload=sip, ts_us=1, node_name="n", correlation_id="w@u"),
            encode_v3(payload=sip.replace(b"INVITE sip:b@x SIP/2.0", b"SIP/2.0 200 OK")),
            encode_v2(payload=sip), encode_v3(payload=b"\xff", proto_type=100,
                                              correlation_id="w@u")]


def _count(counters: Counter, status: np.ndarray, slow: np.ndarray, lengths: np.ndarray,
           sip_status: np.ndarray) -> None:
    """The counters Worker.handle keeps, for the packets decided here (not the slow ones)."""
    fast = ~slow
    counters["received"] += int(np.count_nonzero(fast))
    counters["bytes"] += int(lengths[fast].sum())
    for code, number in zip(*np.unique(status[fast], return_counts=True)):
        code, number = int(code), int(number)
        if code == OK:
            counters["decoded"] += number
        elif code == AUTH:
            counters["rejected:auth"] += number
        else:
            counters["rejected:" + REJECTED[code]] += number
    parsed = int(np.count_nonzero(sip_status == sipbatch.PARSED))
    unparsed = int(np.count_nonzero(sip_status == sipbatch.NOT_SIP))
    if parsed:
        counters["sip_parsed"] += parsed
    if unparsed:
        counters["sip_unparsed"] += unparsed


def _numbers(name: str, values: np.ndarray, present: np.ndarray | None) -> pa.Array:
    """An integer column of the schema's width; `present` None: dense (no nulls)."""
    dtype = _NUMPY[_TYPES[name].removesuffix("_sparse")]
    values = values.astype(dtype)
    if present is None:
        return pa.array(values)
    validity, nulls = bitmap(present)
    return pa.Array.from_buffers(pa.from_numpy_dtype(dtype), len(values),
                                 [validity, pa.py_buffer(values)], nulls)


def _addresses(lo: np.ndarray, hi: np.ndarray) -> pa.Array:
    words = np.empty((len(lo), 2), np.uint64)
    words[:, 0], words[:, 1] = lo, hi
    return pa.Array.from_buffers(pa.binary(16), len(lo), [None, pa.py_buffer(words)])


def _flag(set_: np.ndarray) -> pa.Array:
    """1 where set, null elsewhere (ts_from_arrival, payload_latin1)."""
    return _numbers("ts_from_arrival", np.ones(len(set_), np.uint8), set_)


def _record_batch(data: np.ndarray, hep: HepBatch, sip: sipbatch.SipBatch, sip_rows: np.ndarray,
                  rows: np.ndarray) -> pa.RecordBatch:
    """The columns of packets `rows` (all of one HEP type); sip_rows[i]: row i's parsed SIP
    fields in `sip`, or -1."""
    columns: dict[str, pa.Array] = {"ts": pa.array(hep.ts[rows])}
    columns["src_ip"] = _addresses(hep.ip_lo[0, rows], hep.ip_hi[0, rows])
    columns["dst_ip"] = _addresses(hep.ip_lo[1, rows], hep.ip_hi[1, rows])
    start = hep.span_start[PAYLOAD, rows]
    length = hep.span_length[PAYLOAD, rows]
    start = np.where(length >= 0, start, 0)
    latin1 = hep.payload_utf8[rows] == 0
    columns["payload"] = payload_array(data, start, start + np.maximum(length, 0), latin1)
    # sparse columns: only those with a value in some row are built (see the module docstring)
    sparse: dict[str, pa.Array] = {}
    for name, flags in (("ts_from_arrival", hep.from_arrival[rows] == 1),
                        ("payload_latin1", latin1)):
        if flags.any():
            sparse[name] = _flag(flags)
    for name in _DENSE:
        columns[name] = _numbers(name, hep.ints[_FIXED_SLOT[name], rows], None)
    columns["hep_version"] = _numbers("hep_version", hep.version[rows], None)
    for name, slot in _FIXED_SLOT.items():
        present = hep.has[slot, rows] == 1
        if name not in _DENSE and present.any():
            sparse[name] = _numbers(name, hep.ints[slot, rows], present)
    slots = list(_TEXT_SLOT.values())
    start, length = hep.span_start[slots][:, rows], hep.span_length[slots][:, rows]
    starts, ends = [np.where(length >= 0, start, -1)], [start + length]
    names = list(_TEXT_SLOT)
    parsed = sip_rows >= 0
    any_sip = bool(parsed.any())
    if any_sip:
        at = np.where(parsed, sip_rows, 0)
        k = list(_SIP_SPAN.values())
        starts.append(np.where(parsed, sip.span_start[k][:, at], -1))
        ends.append(sip.span_end[k][:, at])
        names += list(_SIP_SPAN)
    starts, ends = np.vstack(starts), np.vstack(ends)
    used = (starts >= 0).any(axis=1)
    for name, array in zip((n for n, u in zip(names, used) if u),
                           string_columns(data, starts[used], ends[used])):
        sparse[name] = array
    vendors = hep.vendor_chunks[rows]
    if vendors.any():
        sparse["vendor_chunks"] = _numbers("vendor_chunks", vendors, vendors > 0)
    if any_sip:
        for name, attr in _SIP_INTS.items():
            values = getattr(sip, attr)[at]
            present = parsed & (values >= 0)
            if present.any():
                sparse[name] = _numbers(name, values, present)
        profile = pa.array(sip.profile[at].astype(np.int32), mask=~parsed)
        sparse["sip_profile"] = _PROFILES.take(profile)
    columns.update(sparse)
    return pa.RecordBatch.from_pydict(columns)
