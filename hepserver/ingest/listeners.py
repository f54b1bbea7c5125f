"""The daemon's listening sockets: UDP and TCP on one port (IPv4 and IPv6), TLS on another.

The daemon opens one set of sockets per worker process, all bound to the same addresses with
SO_REUSEPORT, so the kernel spreads the work: TCP connections by hash, UDP datagrams at
random (a classic-BPF program attached to the group), so that even a single busy sender is
shared by every worker. Opening them in the parent reports a port in use once, clearly.
"""
from __future__ import annotations

import ctypes
import errno
import socket
import struct
from dataclasses import dataclass, field

__all__ = ["SocketSet", "open_sockets", "bind_addresses", "spread_datagrams"]

_SO_ATTACH_REUSEPORT_CBPF = 51
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux; not exported by Python
RECEIVE_BUFFER = 32 * 1024 * 1024  # absorbs bursts while a worker ships a batch


@dataclass
class SocketSet:
    """One worker's sockets."""

    udp: list[socket.socket] = field(default_factory=list)
    tcp: list[socket.socket] = field(default_factory=list)
    tls: list[socket.socket] = field(default_factory=list)

    def all(self) -> list[socket.socket]:
        return self.udp + self.tcp + self.tls

    def close(self) -> None:
        for sock in self.all():
            sock.close()


def bind_addresses(host: str) -> list[tuple[int, str]]:
    """(family, address) pairs to bind for a HOST setting: every IPv4 and IPv6 address when
    HOST is 0.0.0.0 / * / empty, a dual-stack socket for ::, else the address given."""
    if host in ("", "*", "0.0.0.0"):
        out = [(socket.AF_INET, "0.0.0.0")]
        if socket.has_ipv6:
            out.append((socket.AF_INET6, "::"))
        return out
    if host == "::":
        return [(socket.AF_INET6, "::")]
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    return [(infos[0][0], infos[0][4][0])]


def _socket(family: int, kind: int, address: str, port: int, dual_stack: bool) -> socket.socket:
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        if kind == socket.SOCK_DGRAM:
            _large_receive_buffer(sock)
        sock.bind((address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(1024)
        sock.setblocking(False)
        return sock
    except BaseException:
        sock.close()
        raise


def _large_receive_buffer(sock: socket.socket) -> None:
    """As large as allowed; SO_RCVBUFFORCE passes net.core.rmem_max when run as root."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, RECEIVE_BUFFER)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


def open_sockets(host: str, port: int, workers: int, tls_port: int | None = None) -> list[SocketSet]:
    """One SocketSet per worker; raises OSError naming the address when it cannot bind.
    Port 0 picks a free port (the same one for UDP and TCP), as tests need."""
    sets = [SocketSet() for _ in range(workers)]
    ports = {"udp": port, "tcp": port, "tls": tls_port}
    try:
        for family, address in bind_addresses(host):
            dual = family == socket.AF_INET6 and address == "::" and host == "::"
            for kind, attr in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp"),
                               (socket.SOCK_STREAM, "tls")):
                number = ports[attr]
                if number is None:
                    continue
                group = []
                for worker_set in sets:
                    try:
                        sock = _socket(family, kind, address, number, dual)
                    except OSError as exc:
                        if exc.errno == errno.EADDRNOTAVAIL and family == socket.AF_INET6:
                            break  # no IPv6 here
                        raise OSError(exc.errno, f"cannot listen on {address} port {number} "
                                                 f"({attr}): {exc.strerror}") from exc
                    getattr(worker_set, attr).append(sock)
                    group.append(sock)
                    if number == 0:  # the kernel chose: everyone else binds the same port
                        number = sock.getsockname()[1]
                        ports[attr] = number
                        if attr == "udp" and ports["tcp"] == 0:
                            ports["tcp"] = number
                if kind == socket.SOCK_DGRAM and len(group) > 1:
                    spread_datagrams(group[0], len(group))
        return sets
    except BaseException:
        for worker_set in sets:
            worker_set.close()
        raise


def spread_datagrams(sock: socket.socket, members: int) -> bool:
    """Attach `return random() % members` as the group's socket selector. Without it the
    kernel hashes the sender's address and port, so one sender would feed one worker only."""
    # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}; ancillary load of a random number
    ld_random = (0x00 | 0x00 | 0x20, 0, 0, (-0x1000 + 56) & 0xFFFFFFFF)  # ld [SKF_AD_RANDOM]
    mod = (0x04 | 0x90 | 0x00, 0, 0, members)  # alu mod #members
    ret_a = (0x06 | 0x10, 0, 0, 0)  # ret a
    program = b"".join(struct.pack("HBBI", *op) for op in (ld_random, mod, ret_a))
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", 3, ctypes.addressof(buffer))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_REUSEPORT_CBPF, fprog)
        return True
    except OSError:
        return False
