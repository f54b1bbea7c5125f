"""Errors of HEP decoding. `reason` is a short stable word: the daemon counts rejected packets
by it (`rejected:<reason>`), so it is part of the metrics interface."""
from __future__ import annotations

__all__ = ["HepDecodeError", "REASONS"]

REASONS = {
    "truncated": "shorter than its header, or a chunk header cut off",
    "bad_magic": "neither HEP3/EEP3 nor a HEPv1/v2 version byte",
    "bad_length": "HEPv3 total length differs from the datagram (or is below 6)",
    "chunk_length": "a chunk claims fewer than 6 bytes or more than are left",
    "chunk_size": "a fixed-size chunk (port, address, time...) has the wrong size",
    "bad_family": "HEPv1/v2 address family is neither IPv4 (2) nor IPv6 (10)",
    "bad_compression": "a compressed payload does not inflate",
    "too_large": "a compressed payload inflates past the limit",
}


class HepDecodeError(ValueError):
    """A packet that is not valid HEP; nothing of it is stored."""

    def __init__(self, reason: str, offset: int = 0, chunk_type: int | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        where = f" at byte {offset}" + (f" (chunk 0x{chunk_type:04x})" if chunk_type is not None
                                        else "")
        super().__init__(f"invalid HEP packet: {REASONS[reason]}{where}")
        self.reason = reason
        self.offset = offset
        self.chunk_type = chunk_type
