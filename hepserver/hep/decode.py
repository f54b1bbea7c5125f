"""Decode one HEP packet (v3, or v1/v2) into a `HepPacket`. Pure: bytes in, packet or error out.

Invariant (tested by fuzzing): any bytes either decode or raise HepDecodeError; nothing else
escapes, and nothing is allocated in proportion to a length a packet claims.

Validation follows heplify-server where it is right: the HEPv3 length must equal the datagram
(TCP callers pass exactly one frame); every chunk needs a 6-byte header, a length of at least 6
and no more than what is left; fixed-size generic chunks must have their exact size. Unlike
heplify-server, chunks are named by vendor *and* type: a vendor chunk is skipped (counted in
`vendor_chunks`), never taken for a generic one.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from hepserver.hep.chunks import MAGIC_EEP, MAGIC_V3
from hepserver.hep.errors import HepDecodeError

__all__ = ["HepPacket", "decode", "frame_length", "find_resync", "MAX_INFLATED",
           "ipv4_mapped"]

MAX_INFLATED = 1 << 20  # a compressed payload may inflate to at most this many bytes

_CHUNK = struct.Struct(">HHH")
_U8, _U16, _U32, _U64 = (struct.Struct(f) for f in (">B", ">H", ">I", ">Q"))
_V2_PORTS = struct.Struct(">HH")
_V2_TIME = struct.Struct("<IIH")  # little endian on every sender seen (spec section 2)
_MAPPED = 0xFFFF << 32


def ipv4_mapped(raw: bytes) -> int:
    """::ffff:a.b.c.d as a 128-bit integer."""
    return _MAPPED | int.from_bytes(raw, "big")


@dataclass(slots=True)
class HepPacket:
    """Everything a HEP packet said. Absent chunks are None."""

    version: int = 3
    ip_family: int | None = None
    ip_proto: int | None = None
    src_ip: int | None = None  # 128-bit, IPv4 mapped into IPv6
    dst_ip: int | None = None
    src_port: int | None = None
    dst_port: int | None = None
    ts_us: int = 0
    ts_from_arrival: bool = False
    proto_type: int = 0
    capture_id: int | None = None
    keepalive_timer: int | None = None
    auth_key: bytes | None = None
    payload: bytes = b""
    payload_compressed: bool = False
    correlation_id: str | None = None
    vlan: int | None = None
    node_name: str | None = None
    src_mac: int | None = None
    dst_mac: int | None = None
    eth_type: int | None = None
    tcp_flags: int | None = None
    ip_tos: int | None = None
    mos: int | None = None
    r_factor: int | None = None
    geo_location: str | None = None
    jitter: int | None = None
    transaction_type: str | None = None
    payload_json_keys: str | None = None
    tag_values: str | None = None
    tag_type: int | None = None
    event_type: int | None = None
    group_id: str | None = None
    vendor_chunks: int | None = None


# Generic chunk type -> (attribute, decoder, exact size or 0 for variable).
_INT = {1: _U8, 2: _U16, 4: _U32, 8: _U64}
_FIXED: dict[int, tuple[str, int]] = {
    0x01: ("ip_family", 1), 0x02: ("ip_proto", 1), 0x07: ("src_port", 2),
    0x08: ("dst_port", 2), 0x0B: ("proto_type", 1), 0x0C: ("capture_id", 4),
    0x0D: ("keepalive_timer", 2), 0x12: ("vlan", 2), 0x14: ("src_mac", 8),
    0x15: ("dst_mac", 8), 0x16: ("eth_type", 2), 0x17: ("tcp_flags", 1), 0x18: ("ip_tos", 1),
    0x20: ("mos", 2), 0x21: ("r_factor", 2), 0x23: ("jitter", 4), 0x27: ("tag_type", 2),
    0x28: ("event_type", 2),
}
_TEXT = {0x11: "correlation_id", 0x13: "node_name", 0x22: "geo_location",
         0x24: "transaction_type", 0x25: "payload_json_keys", 0x26: "tag_values",
         0x29: "group_id"}


def decode(data: bytes | bytearray | memoryview, arrival_us: int) -> HepPacket:
    """Decode a whole packet; `arrival_us` stands in for a missing capture time."""
    data = bytes(data)
    if len(data) < 6:
        raise HepDecodeError("truncated", 0)
    magic = data[:4]
    if magic == MAGIC_V3 or magic == MAGIC_EEP:
        return _decode_v3(data, arrival_us)
    if data[0] in (1, 2):
        return _decode_v12(data, arrival_us)
    raise HepDecodeError("bad_magic", 0)


def _decode_v3(data: bytes, arrival_us: int) -> HepPacket:
    total = _U16.unpack_from(data, 4)[0]
    if total != len(data):
        raise HepDecodeError("bad_length", 4)
    packet = HepPacket()
    seconds = micros = None
    vendor_chunks = 0
    pos = 6
    while pos < total:
        if total - pos < 6:
            raise HepDecodeError("truncated", pos)
        vendor, ctype, length = _CHUNK.unpack_from(data, pos)
        if length < 6 or length > total - pos:
            raise HepDecodeError("chunk_length", pos, ctype)
        body = pos + 6
        size = length - 6
        pos += length
        if vendor:
            vendor_chunks += 1
            continue
        fixed = _FIXED.get(ctype)
        if fixed is not None:
            if size != fixed[1]:
                raise HepDecodeError("chunk_size", body - 6, ctype)
            setattr(packet, fixed[0], _INT[size].unpack_from(data, body)[0])
        elif ctype == 0x0F:
            packet.payload = data[body:pos]
        elif ctype == 0x03 or ctype == 0x04:
            if size != 4:
                raise HepDecodeError("chunk_size", body - 6, ctype)
            address = _MAPPED | _U32.unpack_from(data, body)[0]
            if ctype == 0x03:
                packet.src_ip = address
            else:
                packet.dst_ip = address
        elif ctype == 0x05 or ctype == 0x06:
            if size != 16:
                raise HepDecodeError("chunk_size", body - 6, ctype)
            address = int.from_bytes(data[body:pos], "big")
            if ctype == 0x05:
                packet.src_ip = address
            else:
                packet.dst_ip = address
        elif ctype == 0x09 or ctype == 0x0A:
            if size != 4:
                raise HepDecodeError("chunk_size", body - 6, ctype)
            if ctype == 0x09:
                seconds = _U32.unpack_from(data, body)[0]
            else:
                micros = _U32.unpack_from(data, body)[0]
        elif ctype in _TEXT:
            setattr(packet, _TEXT[ctype], data[body:pos].decode("utf-8", "replace"))
        elif ctype == 0x0E:
            packet.auth_key = data[body:pos]
        elif ctype == 0x10:
            packet.payload = _inflate(data[body:pos], body)
            packet.payload_compressed = True
        # other generic types (reserved 0x19..0x1f, future ones) are skipped
    if vendor_chunks:
        packet.vendor_chunks = vendor_chunks
    packet.version = 3
    if not seconds and not micros:
        packet.ts_us = arrival_us
        packet.ts_from_arrival = True
    else:
        packet.ts_us = (seconds or 0) * 1_000_000 + (micros or 0)
    return packet


def _inflate(raw: bytes, offset: int) -> bytes:
    """gzip, zlib or raw deflate, never more than MAX_INFLATED bytes (no zip bombs)."""
    for wbits in (47, -15):  # 47 = 32 + 15: gzip or zlib by header; -15: raw deflate
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(raw, MAX_INFLATED)
        except zlib.error:
            continue
        if inflater.unconsumed_tail:
            raise HepDecodeError("too_large", offset, 0x10)
        if not inflater.eof:
            continue
        return out
    raise HepDecodeError("bad_compression", offset, 0x10)


def _decode_v12(data: bytes, arrival_us: int) -> HepPacket:
    """HEPv1/v2: a fixed header (the header-length byte is unreliable, the family decides the
    layout), v2 adds a little-endian time block, then the SIP message."""
    version, family, proto = data[0], data[2], data[3]
    if family == 2:
        width = 4
    elif family == 10:
        width = 16
    else:
        raise HepDecodeError("bad_family", 2)
    start = 8 + 2 * width + (12 if version == 2 else 0)
    if len(data) < start:
        raise HepDecodeError("truncated", len(data))
    packet = HepPacket(version=version, ip_family=family, ip_proto=proto)
    packet.src_port, packet.dst_port = _V2_PORTS.unpack_from(data, 4)
    src, dst = data[8:8 + width], data[8 + width:8 + 2 * width]
    if width == 4:
        packet.src_ip, packet.dst_ip = ipv4_mapped(src), ipv4_mapped(dst)
    else:
        packet.src_ip, packet.dst_ip = int.from_bytes(src, "big"), int.from_bytes(dst, "big")
    packet.proto_type = 1  # v1/v2 carry SIP only
    if version == 2:
        seconds, micros, capture_id = _V2_TIME.unpack_from(data, 8 + 2 * width)
        packet.capture_id = capture_id
        if seconds or micros:
            packet.ts_us = seconds * 1_000_000 + micros
    if not packet.ts_us:
        packet.ts_us = arrival_us
        packet.ts_from_arrival = True
    packet.payload = data[start:]
    return packet


def frame_length(buffer: bytes | bytearray | memoryview) -> int | None:
    """Length of the HEPv3 frame at the start of a TCP stream buffer, None if fewer than 6
    bytes are there; HepDecodeError if the bytes are not a frame header."""
    if len(buffer) < 6:
        return None
    if bytes(buffer[:4]) not in (MAGIC_V3, MAGIC_EEP):
        raise HepDecodeError("bad_magic", 0)
    length = (buffer[4] << 8) | buffer[5]
    if length < 6:
        raise HepDecodeError("bad_length", 4)
    return length


def find_resync(buffer: bytes | bytearray, start: int) -> int | None:
    """Where the next HEPv3 magic begins at or after `start` (to skip garbage), or None."""
    found = buffer.find(MAGIC_V3, start)
    return None if found < 0 else found
