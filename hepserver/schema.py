"""How HEP packets are stored in hyena: one hypertable, one partition group per HEP type.

`ts` is the capture time from the packet (arrival time when the packet carries none, flagged
in `ts_from_arrival`); `source` is the HEP protocol type (1 SIP, 5 RTCP, 34/35 QoS reports,
53 DNS, 100 logs, ...). Addresses are 128-bit integers with IPv4 mapped into IPv6
(::ffff:a.b.c.d); a packet without an address stores 0 (::). Everything a packet may lack is a
sparse (nullable) column. SIP columns are filled for type 1 packets whose payload parses as
SIP; the payload itself is always kept. Payloads that are not valid UTF-8 are stored with each
byte as one code point (latin-1) and `payload_latin1` = 1, so the original bytes can be
recovered exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Field", "FIELDS", "DENSE", "SIP_FIELDS", "ensure_schema", "column_names"]


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # a hyena column type label
    doc: str


FIELDS: tuple[Field, ...] = (
    # network (always present; 0 when the packet has no such chunk)
    Field("ip_family", "u8", "2 IPv4, 10 IPv6, 0 unknown"),
    Field("ip_proto", "u8", "IP protocol of the captured packet: 17 UDP, 6 TCP, 132 SCTP"),
    Field("src_ip", "u128", "source address, IPv4 mapped into IPv6"),
    Field("dst_ip", "u128", "destination address, IPv4 mapped into IPv6"),
    Field("src_port", "u16", "source port"),
    Field("dst_port", "u16", "destination port"),
    Field("hep_version", "u8", "1, 2 or 3"),
    Field("payload", "string", "the captured payload (decompressed if it was sent compressed)"),
    # optional HEP chunks
    Field("ts_from_arrival", "u8_sparse", "1 when the packet had no time and ts is arrival time"),
    Field("payload_latin1", "u8_sparse", "1 when payload was not UTF-8 and is stored as latin-1"),
    Field("capture_id", "u32_sparse", "capture agent id (chunk 0x0c)"),
    Field("node_name", "string_sparse", "capture agent name (chunk 0x13)"),
    Field("correlation_id", "string_sparse", "correlation id (chunk 0x11)"),
    Field("keepalive", "u16_sparse", "keep-alive timer in seconds (chunk 0x0d)"),
    Field("vlan", "u16_sparse", "VLAN id (chunk 0x12)"),
    Field("src_mac", "u64_sparse", "source MAC (chunk 0x14)"),
    Field("dst_mac", "u64_sparse", "destination MAC (chunk 0x15)"),
    Field("eth_type", "u16_sparse", "Ethernet type (chunk 0x16)"),
    Field("tcp_flags", "u8_sparse", "TCP flags (chunk 0x17)"),
    Field("ip_tos", "u8_sparse", "IP TOS (chunk 0x18)"),
    Field("mos", "u16_sparse", "MOS x 100 (chunk 0x20)"),
    Field("r_factor", "u16_sparse", "R-factor (chunk 0x21)"),
    Field("geo_location", "string_sparse", "geo location (chunk 0x22)"),
    Field("jitter", "u32_sparse", "jitter (chunk 0x23)"),
    Field("transaction_type", "string_sparse", "transaction type (chunk 0x24)"),
    Field("payload_json_keys", "string_sparse", "payload JSON keys (chunk 0x25)"),
    Field("tag_values", "string_sparse", "tag values (chunk 0x26)"),
    Field("tag_type", "u16_sparse", "tag type (chunk 0x27)"),
    Field("event_type", "u16_sparse", "event type (chunk 0x28)"),
    Field("group_id", "string_sparse", "group id (chunk 0x29)"),
    Field("vendor_chunks", "u16_sparse", "number of vendor-specific chunks skipped"),
    # SIP (type 1 packets whose payload parses)
    Field("sip_method", "string_sparse", "request method (INVITE, ...)"),
    Field("sip_status", "u16_sparse", "response status code"),
    Field("sip_reason", "string_sparse", "response reason phrase"),
    Field("ruri", "string_sparse", "request URI"),
    Field("ruri_user", "string_sparse", "user part of the request URI"),
    Field("ruri_domain", "string_sparse", "host part of the request URI"),
    Field("call_id", "string_sparse", "Call-ID"),
    Field("cseq_num", "u32_sparse", "CSeq number"),
    Field("cseq_method", "string_sparse", "CSeq method"),
    Field("from_user", "string_sparse", "From user"),
    Field("from_domain", "string_sparse", "From host"),
    Field("from_tag", "string_sparse", "From tag"),
    Field("to_user", "string_sparse", "To user"),
    Field("to_domain", "string_sparse", "To host"),
    Field("to_tag", "string_sparse", "To tag"),
    Field("user_agent", "string_sparse", "User-Agent (or Server) header"),
    Field("contact_user", "string_sparse", "Contact user"),
    Field("contact_domain", "string_sparse", "Contact host"),
    Field("expires", "u32_sparse", "Expires header, or the Contact expires parameter"),
    Field("content_type", "string_sparse", "Content-Type"),
    Field("pid_user", "string_sparse", "P-Asserted-Identity user"),
    Field("auth_user", "string_sparse", "Authorization / Proxy-Authorization username"),
    Field("via_branch", "string_sparse", "branch of the top Via"),
    Field("x_cid", "string_sparse", "A-leg correlation header (X-CID and alike)"),
    Field("sip_profile", "string_sparse", "call, registration or default (Homer's tables)"),
)

DENSE = tuple(f.name for f in FIELDS if not f.type.endswith("_sparse"))
SIP_FIELDS = tuple(f.name for f in FIELDS[FIELDS.index(next(f for f in FIELDS
                                                            if f.name == "sip_method")):])


def column_names() -> list[str]:
    return [f.name for f in FIELDS]


def ensure_schema(db) -> None:
    """Add the HEP columns a data directory lacks (in the order above), and a bloom index on
    Call-ID and correlation id, which users look up one at a time."""
    have = {c.name: c for c in db.columns}
    for field in FIELDS:
        column = have.get(field.name)
        if column is None:
            db.add_column(field.name, field.type)
        elif column.type.label != field.type:
            raise ValueError(f"data directory has column {field.name!r} of type "
                             f"{column.type.label}, hepserver needs {field.type}")
    indexed = db.indexes
    for name in ("call_id", "correlation_id"):
        if "bloom" not in indexed.get(name, set()):
            db.add_column_index(name)
