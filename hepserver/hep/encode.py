"""Encode HEP packets: for the replay tool, benchmarks and tests. Tests also decode packets
made by independent encoders (hep-js, real agents) so this is not the only reference."""
from __future__ import annotations

import functools
import ipaddress
import struct

__all__ = ["encode_v3", "encode_v2", "chunk"]


def chunk(ctype: int, value: bytes, vendor: int = 0) -> bytes:
    return struct.pack(">HHH", vendor, ctype, len(value) + 6) + value


_U16_CHUNK = struct.Struct(">HHHH")  # a whole chunk holding a u16 (ports)
_TIME = struct.Struct(">HHHIHHHI")  # the seconds and microseconds chunks together


@functools.lru_cache(maxsize=65536)  # senders repeat addresses; parsing one costs microseconds
def _address(value: str | int) -> tuple[int, bytes]:
    ip = ipaddress.ip_address(value)
    return (2 if ip.version == 4 else 10), ip.packed


def encode_v3(*, payload: bytes, src_ip: str = "127.0.0.1", dst_ip: str = "127.0.0.1",
              src_port: int = 5060, dst_port: int = 5060, ts_us: int | None = None,
              proto_type: int = 1, ip_proto: int = 17, capture_id: int | None = 2001,
              auth_key: bytes | None = None, correlation_id: str | None = None,
              node_name: str | None = None, vlan: int | None = None, mos: int | None = None,
              extra: bytes = b"", compress: bool = False) -> bytes:
    """One HEPv3 packet; `extra` is appended as raw chunks (vendor chunks in tests)."""
    family, src = _address(src_ip)
    dst_family, dst = _address(dst_ip)
    parts = [chunk(0x01, bytes([family])), chunk(0x02, bytes([ip_proto])),
             chunk(0x03 if family == 2 else 0x05, src),
             chunk(0x04 if dst_family == 2 else 0x06, dst),
             _U16_CHUNK.pack(0, 0x07, 8, src_port), _U16_CHUNK.pack(0, 0x08, 8, dst_port)]
    if ts_us is not None:
        parts.append(_TIME.pack(0, 0x09, 10, ts_us // 1_000_000, 0, 0x0A, 10, ts_us % 1_000_000))
    parts.append(chunk(0x0B, bytes([proto_type])))
    if capture_id is not None:
        parts.append(chunk(0x0C, struct.pack(">I", capture_id)))
    if auth_key is not None:
        parts.append(chunk(0x0E, auth_key))
    if correlation_id is not None:
        parts.append(chunk(0x11, correlation_id.encode()))
    if vlan is not None:
        parts.append(chunk(0x12, struct.pack(">H", vlan)))
    if node_name is not None:
        parts.append(chunk(0x13, node_name.encode()))
    if mos is not None:
        parts.append(chunk(0x20, struct.pack(">H", mos)))
    if compress:
        import zlib

        parts.append(chunk(0x10, zlib.compress(payload)))
    else:
        parts.append(chunk(0x0F, payload))
    body = b"".join(parts) + extra
    return b"HEP3" + struct.pack(">H", len(body) + 6) + body


def encode_v2(*, payload: bytes, src_ip: str = "127.0.0.1", dst_ip: str = "127.0.0.1",
              src_port: int = 5060, dst_port: int = 5060, ts_us: int | None = None,
              capture_id: int = 2001, version: int = 2, ip_proto: int = 17) -> bytes:
    """A HEPv2 (or v1) packet as Kamailio writes it (little-endian time block)."""
    family, src = _address(src_ip)
    _, dst = _address(dst_ip)
    header_len = 8 + 2 * len(src)
    head = struct.pack(">BBBBHH", version, header_len, family, ip_proto, src_port, dst_port)
    head += src + dst
    if version == 2:
        ts = ts_us or 0
        head += struct.pack("<IIHH", ts // 1_000_000, ts % 1_000_000, capture_id, 0)
    return head + payload
