"""Receiving a message from a pynng socket, for both ends of the protocol (the codec itself
has no sockets).

`Socket.recv_msg` builds a Message and looks up the pipe it came by (Python work on every
message, and a lookup that can race with the socket being closed from another thread, which
is how a blocked reader is woken); `Socket.recv` fails on an empty message, which a server
must survive. This reads the bytes through pynng's own cffi layer: one C call and a copy.
"""
from __future__ import annotations

import pynng
from pynng import ffi, lib

__all__ = ["receive"]


def receive(sock: pynng.Socket) -> bytes:
    """The next message's bytes (b"" for an empty one); raises what pynng raises (Timeout,
    Closed, ...)."""
    data = ffi.new("char **")
    size = ffi.new("size_t *")
    pynng.check_err(lib.nng_recv(sock.socket, data, size, lib.NNG_FLAG_ALLOC))
    if data[0] == ffi.NULL:
        return b""
    try:
        return ffi.unpack(data[0], size[0])
    finally:
        lib.nng_free(data[0], size[0])
