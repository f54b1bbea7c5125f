"""Decoded packets -> column buffers -> Arrow record batches, one buffer per HEP type.

A row is built with `operator.attrgetter` (one C call per packet for all the HEP fields and
one for the SIP fields), kept as a tuple, and turned into columns only when the batch is
shipped (one `zip(*rows)` and one `pyarrow.array` per column).
"""
from __future__ import annotations

from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa

from hepserver.schema import FIELDS

__all__ = ["RowBuffer", "HEP_ATTRIBUTES", "SIP_ATTRIBUTES", "payload_text"]

# HepPacket attribute for each stored HEP field, in FIELDS order (payload is handled apart).
HEP_ATTRIBUTES = {
    "ip_family": "ip_family", "ip_proto": "ip_proto", "src_port": "src_port",
    "dst_port": "dst_port", "hep_version": "version", "capture_id": "capture_id",
    "node_name": "node_name", "correlation_id": "correlation_id",
    "keepalive": "keepalive_timer", "vlan": "vlan", "src_mac": "src_mac", "dst_mac": "dst_mac",
    "eth_type": "eth_type", "tcp_flags": "tcp_flags", "ip_tos": "ip_tos", "mos": "mos",
    "r_factor": "r_factor", "geo_location": "geo_location", "jitter": "jitter",
    "transaction_type": "transaction_type", "payload_json_keys": "payload_json_keys",
    "tag_values": "tag_values", "tag_type": "tag_type", "event_type": "event_type",
    "group_id": "group_id", "vendor_chunks": "vendor_chunks",
}
SIP_ATTRIBUTES = {
    "sip_method": "method", "sip_status": "status_code", "sip_reason": "reason", "ruri": "ruri",
    "ruri_user": "ruri_user", "ruri_domain": "ruri_domain", "call_id": "call_id",
    "cseq_num": "cseq_num", "cseq_method": "cseq_method", "from_user": "from_user",
    "from_domain": "from_domain", "from_tag": "from_tag", "to_user": "to_user",
    "to_domain": "to_domain", "to_tag": "to_tag", "user_agent": "user_agent",
    "contact_user": "contact_user", "contact_domain": "contact_domain", "expires": "expires",
    "content_type": "content_type", "pid_user": "pid_user", "auth_user": "auth_user",
    "via_branch": "via_branch", "x_cid": "x_cid", "sip_profile": "profile",
}
_HEP_NAMES = tuple(HEP_ATTRIBUTES)
_SIP_NAMES = tuple(SIP_ATTRIBUTES)
_hep_values = attrgetter(*HEP_ATTRIBUTES.values())
_sip_values = attrgetter(*SIP_ATTRIBUTES.values())
_NO_SIP = (None,) * len(_SIP_NAMES)
_TYPES = {f.name: f.type for f in FIELDS}
_ARROW = {"u8": pa.uint8(), "u16": pa.uint16(), "u32": pa.uint32(), "u64": pa.uint64(),
          "string": pa.string()}
_MASK64 = (1 << 64) - 1


def payload_text(payload: bytes) -> tuple[str, bool]:
    """(text, True if it was not UTF-8 and each byte became one code point)."""
    try:
        return payload.decode("utf-8"), False
    except UnicodeDecodeError:
        return payload.decode("latin-1"), True


def _text(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return value


class RowBuffer:
    """Rows of one HEP type waiting to be shipped."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, packet: Any, sip: Any | None) -> None:
        text, latin1 = payload_text(packet.payload or b"")
        ip_hi = (packet.src_ip or 0) >> 64, (packet.dst_ip or 0) >> 64
        self.rows.append((packet.ts_us, (packet.src_ip or 0) & _MASK64, ip_hi[0],
                          (packet.dst_ip or 0) & _MASK64, ip_hi[1], text,
                          1 if packet.ts_from_arrival else None, 1 if latin1 else None)
                         + _hep_values(packet) + (_sip_values(sip) if sip is not None else _NO_SIP))

    def take(self) -> pa.RecordBatch:
        """The buffered rows as a record batch (column names as in hepserver.schema)."""
        rows, self.rows = self.rows, []
        columns = list(zip(*rows))
        n = len(rows)
        arrays: dict[str, pa.Array] = {"ts": pa.array(columns[0], pa.uint64())}
        arrays["src_ip"] = _int128(columns[1], columns[2], n)
        arrays["dst_ip"] = _int128(columns[3], columns[4], n)
        arrays["payload"] = pa.array(columns[5], pa.string())
        arrays["ts_from_arrival"] = pa.array(columns[6], pa.uint8())
        arrays["payload_latin1"] = pa.array(columns[7], pa.uint8())
        for name, values in zip(_HEP_NAMES + _SIP_NAMES, columns[8:]):
            arrays[name] = _array(name, values)
        dense_defaults = {"ip_family", "ip_proto", "src_port", "dst_port", "hep_version"}
        for name in dense_defaults:  # dense: a packet without the chunk stores 0
            if arrays[name].null_count:
                arrays[name] = arrays[name].fill_null(0)
        return pa.RecordBatch.from_pydict(arrays)


def _array(name: str, values: tuple) -> pa.Array:
    label = _TYPES[name].removesuffix("_sparse")
    try:
        return pa.array(values, _ARROW[label])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if label != "string":
            raise
        # Text chunks that are not UTF-8: keep what can be read, mark the rest.
        return pa.array([_text(v) for v in values], pa.string())


def _int128(low: tuple, high: tuple, n: int) -> pa.Array:
    words = np.empty((n, 2), dtype=np.uint64)
    words[:, 0] = np.array(low, dtype=np.uint64)
    words[:, 1] = np.array(high, dtype=np.uint64)
    return pa.Array.from_buffers(pa.binary(16), n, [None, pa.py_buffer(words)])
