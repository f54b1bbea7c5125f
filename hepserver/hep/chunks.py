"""Numbers of HEP: generic chunk types (vendor 0), payload protocol types, vendor ids.
From the HEP3 specification (rev 37) and what real senders emit; see ../shared/spec/hep.md."""
from __future__ import annotations

import enum

__all__ = ["Chunk", "ProtoType", "Vendor", "MAGIC_V3", "MAGIC_EEP"]

MAGIC_V3 = b"HEP3"
MAGIC_EEP = b"EEP3"  # the 2013 draft's name; no sender here uses it, accepted anyway


class Chunk(enum.IntEnum):
    IP_FAMILY = 0x01  # u8: 2 IPv4, 10 IPv6
    IP_PROTO = 0x02  # u8: 17 UDP, 6 TCP, 132 SCTP
    SRC_IP4 = 0x03  # 4 bytes
    DST_IP4 = 0x04  # 4 bytes
    SRC_IP6 = 0x05  # 16 bytes
    DST_IP6 = 0x06  # 16 bytes
    SRC_PORT = 0x07  # u16
    DST_PORT = 0x08  # u16
    TIME_SEC = 0x09  # u32, seconds since the epoch
    TIME_USEC = 0x0A  # u32, microseconds to add
    PROTO_TYPE = 0x0B  # u8, what the payload is (ProtoType)
    CAPTURE_ID = 0x0C  # u32, the agent's numeric id
    KEEPALIVE = 0x0D  # u16, seconds
    AUTH_KEY = 0x0E  # bytes, plain text password
    PAYLOAD = 0x0F  # bytes
    PAYLOAD_COMPRESSED = 0x10  # bytes, gzip or deflate
    CORRELATION_ID = 0x11  # bytes, text in practice (Call-ID)
    VLAN = 0x12  # u16
    NODE_NAME = 0x13  # bytes, the agent's name
    SRC_MAC = 0x14  # u64
    DST_MAC = 0x15  # u64
    ETH_TYPE = 0x16  # u16
    TCP_FLAGS = 0x17  # u8
    IP_TOS = 0x18  # u8
    MOS = 0x20  # u16, MOS x 100
    R_FACTOR = 0x21  # u16
    GEO_LOCATION = 0x22  # bytes
    JITTER = 0x23  # u32
    TRANSACTION_TYPE = 0x24  # bytes ("call", "registration")
    PAYLOAD_JSON_KEYS = 0x25  # bytes
    TAG_VALUES = 0x26  # bytes
    TAG_TYPE = 0x27  # u16
    EVENT_TYPE = 0x28  # u16: 1 recording, 2 recording LI
    GROUP_ID = 0x29  # bytes


class ProtoType(enum.IntEnum):
    SIP = 1
    XMPP = 2
    SDP = 3
    RTP = 4
    RTCP = 5  # RTCP as JSON
    MGCP = 6
    MEGACO = 7
    M2UA = 8
    M3UA = 9
    IAX = 10
    H322 = 11
    H321 = 12
    M2PA = 13
    MOS_FULL = 34  # QoS report, JSON (rtpagent)
    MOS_SHORT = 35  # QoS short report (rtcpxr)
    HORACLIFIX = 38
    SIP_JSON = 50
    DNS = 53  # DNS as JSON
    M3UA_ISUP = 54
    RTSP = 55
    DIAMETER = 56
    GSM_MAP = 57
    RTCP_PION = 58
    CDR = 60
    VERTO = 61
    LOG = 100  # log line (Kamailio hlog, paStash)


class Vendor(enum.IntEnum):
    GENERIC = 0
    FREESWITCH = 1
    KAMAILIO = 2
    OPENSIPS = 3
    ASTERISK = 4
    HOMER = 5
    SIPXECS = 6
    YETI = 7
    GENESYS = 8
