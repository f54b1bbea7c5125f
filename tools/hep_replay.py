#!/usr/bin/env python3
"""Send HEP to a capture server: generated SIP dialogs, or packets replayed from files.

    python tools/hep_replay.py                                  # 1,000 packets to 127.0.0.1:9069
    python tools/hep_replay.py 10.0.0.5 9060 --rate 500 --duration 60
    python tools/hep_replay.py --tcp --count 100000 --rate 0    # as fast as the server takes them
    python tools/hep_replay.py --file capture.hep --rate 200    # replay raw HEP packets
    python tools/hep_replay.py --count 5000 --write sample.hep  # save generated packets

Generated traffic is what a capture agent next to a SIP proxy sees: calls (INVITE, 100, 180,
200, ACK, BYE, 200, some ending 486 Busy), registrations (REGISTER, 401, REGISTER with
credentials, 200) and OPTIONS pings, with varying Call-IDs, users, addresses and ports,
interleaved, each as a HEPv3 packet (hepserver.hep.encode) stamped with its planned send time.
A file holds HEPv3 packets back to back (a TCP stream's bytes; a single .bin packet of any HEP
version is one packet).

Every packet is encoded before sending starts; the send loop only paces: it sends what is due
and sleeps when ahead, so it leaves the CPU to the server (benches/capture.py runs this same
loop as its sender). `--json` prints the summary as one JSON line.
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import random
import resource
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hepserver.hep.encode import chunk, encode_v3  # noqa: E402

T_AUTH_KEY = 0x0E
QUANTUM = 0.001  # seconds of packets sent per wake-up of the paced loop

# --- SIP dialogs ----------------------------------------------------------------------------------

AGENTS = ("Yealink SIP-T46S 66.86.0.15", "Grandstream GXP2170 1.0.11.23", "Zoiper rv2.10.19.6",
          "Linphone/5.2.5 (belle-sip/5.2.0)", "Cisco-CP8845/14.2.1", "MicroSIP/3.21.3")
SERVER = "Kamailio (5.7.4 (x86_64/linux))"
DOMAINS = ("pbx.example.net", "voip.example.com", "sip.carrier.example", "tenant7.example.org")
PROXY = "192.0.2.10"
SDP = ("v=0\r\no=- {sess} {sess} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
       "m=audio {rtp} RTP/AVP 0 8 9 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
       "a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
       "a=ptime:20\r\na=sendrecv\r\n")


@dataclass
class Message:
    """One SIP message as captured: the bytes and the addresses it travelled between."""

    payload: bytes
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int


class Party:
    """A phone: user, domain, address, port, User-Agent."""

    def __init__(self, rng: random.Random) -> None:
        self.user = str(rng.randint(1000, 9999)) if rng.random() < 0.5 else \
            f"+1{rng.randint(200, 999)}555{rng.randint(1000, 9999)}"
        self.domain = rng.choice(DOMAINS)
        self.ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        self.port = rng.choice((5060, 5060, 5062, rng.randint(10000, 60000)))
        self.agent = rng.choice(AGENTS)
        self.tag = f"{rng.getrandbits(40):010x}"


def _request(method: str, uri: str, a: Party, b: Party, call_id: str, cseq: int, branch: str,
             extra: str = "", body: str = "", to_tag: str = "") -> bytes:
    head = (f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {a.ip}:{a.port};branch=z9hG4bK{branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:{a.user}@{a.domain}>;tag={a.tag}\r\n"
            f"To: <sip:{b.user}@{b.domain}>{';tag=' + to_tag if to_tag else ''}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{a.user}@{a.ip}:{a.port}>\r\nUser-Agent: {a.agent}\r\n{extra}")
    return _finish(head, body)


def _response(code: int, reason: str, request: bytes, to_tag: str, extra: str = "",
              body: str = "") -> bytes:
    """A reply copying Via, From, To, Call-ID and CSeq from the request, as RFC 3261 asks."""
    lines = request.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")[1:]
    keep = [ln for ln in lines if ln.split(":", 1)[0] in ("Via", "From", "To", "Call-ID", "CSeq")]
    keep = [ln + (f";tag={to_tag}" if ln.startswith("To:") and to_tag and "tag=" not in ln
                  else "") for ln in keep]
    head = f"SIP/2.0 {code} {reason}\r\n" + "\r\n".join(keep) + f"\r\nServer: {SERVER}\r\n{extra}"
    return _finish(head, body)


def _finish(head: str, body: str) -> bytes:
    if body:
        head += "Content-Type: application/sdp\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode()


def call(rng: random.Random) -> list[Message]:
    """INVITE/100/180/200/ACK/BYE/200 through the proxy; one in six ends 486 Busy Here."""
    a, b = Party(rng), Party(rng)
    cid = f"{rng.getrandbits(96):024x}@{a.ip}"
    sess = rng.randint(10**8, 10**9)
    up = lambda p: Message(p, a.ip, PROXY, a.port, 5060)  # noqa: E731
    down = lambda p: Message(p, PROXY, a.ip, 5060, a.port)  # noqa: E731
    invite = _request("INVITE", f"sip:{b.user}@{b.domain}", a, b, cid, 1, f"{rng.getrandbits(48):x}",
                      "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY\r\n",
                      SDP.format(sess=sess, ip=a.ip, rtp=rng.randrange(10000, 20000, 2)))
    out = [up(invite), down(_response(100, "Trying", invite, ""))]
    if rng.random() < 1 / 6:
        busy = _response(486, "Busy Here", invite, b.tag)
        ack = _request("ACK", f"sip:{b.user}@{b.domain}", a, b, cid, 1, "ack", to_tag=b.tag)
        return out + [down(busy), up(ack)]
    ok = _response(200, "OK", invite, b.tag, f"Contact: <sip:{b.user}@{b.ip}:{b.port}>\r\n",
                   SDP.format(sess=sess + 1, ip=b.ip, rtp=rng.randrange(20000, 30000, 2)))
    ack = _request("ACK", f"sip:{b.user}@{b.ip}:{b.port}", a, b, cid, 1,
                   f"{rng.getrandbits(48):x}", to_tag=b.tag)
    bye = _request("BYE", f"sip:{b.user}@{b.ip}:{b.port}", a, b, cid, 2,
                   f"{rng.getrandbits(48):x}", to_tag=b.tag)
    return out + [down(_response(180, "Ringing", invite, b.tag)), down(ok), up(ack), up(bye),
                  down(_response(200, "OK", bye, ""))]


def registration(rng: random.Random) -> list[Message]:
    """REGISTER, 401 with a challenge, REGISTER with credentials, 200 with the binding."""
    a = Party(rng)
    registrar = Party(rng)
    registrar.user, registrar.domain = a.user, a.domain
    cid = f"{rng.getrandbits(64):016x}-{rng.getrandbits(32):08x}@{a.ip}"
    nonce = f"{rng.getrandbits(128):032x}"
    uri = f"sip:{a.domain}"
    first = _request("REGISTER", uri, a, registrar, cid, 1, f"{rng.getrandbits(48):x}",
                     "Expires: 3600\r\n")
    challenge = _response(401, "Unauthorized", first, f"{rng.getrandbits(40):x}",
                          f'WWW-Authenticate: Digest realm="{a.domain}", nonce="{nonce}", '
                          f'algorithm=MD5, qop="auth"\r\n')
    second = _request("REGISTER", uri, a, registrar, cid, 2, f"{rng.getrandbits(48):x}",
                      f'Authorization: Digest username="{a.user}", realm="{a.domain}", '
                      f'nonce="{nonce}", uri="{uri}", response="{rng.getrandbits(128):032x}", '
                      f'algorithm=MD5, cnonce="{rng.getrandbits(32):08x}", qop=auth, '
                      f'nc=00000001\r\nExpires: 3600\r\n')
    done = _response(200, "OK", second, f"{rng.getrandbits(40):x}",
                     f"Contact: <sip:{a.user}@{a.ip}:{a.port}>;expires=3600\r\n")
    up = lambda p: Message(p, a.ip, PROXY, a.port, 5060)  # noqa: E731
    down = lambda p: Message(p, PROXY, a.ip, 5060, a.port)  # noqa: E731
    return [up(first), down(challenge), up(second), down(done)]


def options(rng: random.Random) -> list[Message]:
    """A keep-alive ping from the proxy to a phone, and its answer."""
    a = Party(rng)
    proxy = Party(rng)
    proxy.user, proxy.ip, proxy.port, proxy.agent = "ping", PROXY, 5060, SERVER
    ping = _request("OPTIONS", f"sip:{a.user}@{a.ip}:{a.port}", proxy, a,
                    f"{rng.getrandbits(64):016x}@{PROXY}", 1, f"{rng.getrandbits(48):x}",
                    "Accept: application/sdp\r\n")
    return [Message(ping, PROXY, a.ip, 5060, a.port),
            Message(_response(200, "OK", ping, a.tag), a.ip, PROXY, a.port, 5060)]


DIALOGS: tuple[tuple[Callable[[random.Random], list[Message]], float], ...] = (
    (call, 0.55), (registration, 0.3), (options, 0.15))


def messages(count: int, seed: int = 1, active: int = 64) -> Iterator[Message]:
    """`count` SIP messages from dialogs that run `active` at a time, interleaved."""
    rng = random.Random(seed)
    makers, weights = zip(*DIALOGS)
    running: list[list[Message]] = []
    for _ in range(count):
        while len(running) < active:
            running.append(rng.choices(makers, weights)[0](rng)[::-1])
        pick = rng.randrange(len(running))
        dialog = running[pick]
        yield dialog.pop()
        if not dialog:
            running[pick] = running[-1]
            running.pop()


def generate(count: int, rate: float, seed: int = 1, node_name: str | None = None,
             auth_key: bytes | None = None, capture_id: int = 2001,
             start_us: int | None = None) -> list[bytes]:
    """`count` HEPv3 packets of generated SIP, stamped `1/rate` apart from now."""
    start = time.time_ns() // 1000 if start_us is None else start_us
    step = 1e6 / rate if rate else 1.0
    return [encode_v3(payload=m.payload, src_ip=m.src_ip, dst_ip=m.dst_ip, src_port=m.src_port,
                      dst_port=m.dst_port, ts_us=start + int(i * step), capture_id=capture_id,
                      node_name=node_name, auth_key=auth_key)
            for i, m in enumerate(messages(count, seed))]


# --- files ----------------------------------------------------------------------------------------

def read_packets(path: Path) -> list[bytes]:
    """The HEP packets of a file: HEPv3 packets back to back, or one packet of any version."""
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{path}: empty file")
    if data[:4] not in (b"HEP3", b"EEP3"):
        if data[0] in (1, 2):
            return [data]  # a single HEPv1/v2 packet: nothing delimits several
        raise ValueError(f"{path}: not HEP (starts with {data[:4]!r}, expected HEP3)")
    out, pos = [], 0
    while pos < len(data):
        if data[pos:pos + 4] not in (b"HEP3", b"EEP3") or len(data) - pos < 6:
            raise ValueError(f"{path}: no HEP3 packet at byte {pos}")
        length = struct.unpack_from(">H", data, pos + 4)[0]
        if length < 6 or pos + length > len(data):
            raise ValueError(f"{path}: packet at byte {pos} claims {length} bytes, "
                             f"{len(data) - pos} left")
        out.append(data[pos:pos + length])
        pos += length
    return out


def with_auth_key(packet: bytes, key: bytes) -> bytes:
    """A HEPv3 packet with an auth-key chunk added (a later chunk wins when decoding)."""
    if packet[:4] not in (b"HEP3", b"EEP3"):
        raise ValueError("an auth key can only be added to HEPv3 packets")
    extra = chunk(T_AUTH_KEY, key)
    total = len(packet) + len(extra)
    if total > 65535:
        raise ValueError("packet too long to add an auth key")
    return packet[:4] + struct.pack(">H", total) + packet[6:] + extra


def write_packets(path: Path, packets: Sequence[bytes]) -> None:
    path.write_bytes(b"".join(packets))


# --- sending --------------------------------------------------------------------------------------

@dataclass
class Summary:
    """What a run sent, how fast, and what it cost the sender."""

    transport: str
    target: str
    sent: int
    bytes: int
    seconds: float
    rate: float  # achieved packets/s
    requested_rate: float  # 0: as fast as possible
    cpu_seconds: float  # user + system time of the send loop
    refused: int  # UDP datagrams the kernel reported as refused (nobody listening)
    behind_s: float  # how far the loop ended behind its schedule (the target too slow)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pace(packets: Sequence[bytes], send: Callable[[int, int], None], rate: float, count: int,
         duration: float | None, burst: int = 1024) -> tuple[int, float, float]:
    """Call `send(first, last)` for the packets due by now, cycling through `packets`, until
    `count` were sent or `duration` seconds passed; sleep while ahead. Returns (sent, seconds,
    seconds behind schedule at the end)."""
    n = len(packets)
    sent = 0
    # the last packets are due just before `duration`: a little grace so a late wake-up
    # does not cut them off
    limit = None if duration is None else duration + (0.25 if rate else 0.0)
    start = time.perf_counter()
    while sent < count:
        now = time.perf_counter() - start
        if limit is not None and now >= limit:
            break
        due = count if not rate else min(count, int(now * rate) + 1)
        due = min(due, sent + burst)
        if due <= sent:  # ahead: sleep until a millisecond's worth is due (a burst each
            # wake-up; waking per packet would cost more CPU than sending it)
            time.sleep(max(0.0, min(0.002, (sent + max(1.0, rate * QUANTUM)) / rate - now)))
            continue
        while sent < due:  # the slice may wrap around the end of `packets`
            first = sent % n
            last = min(n, first + due - sent)
            send(first, last)
            sent += last - first
    seconds = time.perf_counter() - start
    behind = max(0.0, seconds - sent / rate) if rate else 0.0
    return sent, seconds, behind


class Batch:
    """All packets in one buffer, and (where the C library has it) a prepared sendmmsg(2)
    vector over them: one system call sends a run of datagrams, which costs the sender about
    a third less CPU per packet than one send() each, CPU the receiver then has."""

    def __init__(self, packets: Sequence[bytes]) -> None:
        self.data = b"".join(packets)
        self.ends = np.cumsum([len(p) for p in packets], dtype=np.int64)
        self.starts = self.ends - np.fromiter(map(len, packets), np.int64, len(packets))
        self.view = memoryview(self.data)
        self._sendmmsg = getattr(_LIBC, "sendmmsg", None) if _LIBC is not None else None
        if self._sendmmsg is not None:
            self._sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
            self._sendmmsg.restype = ctypes.c_int
            base = ctypes.cast(ctypes.c_char_p(self.data), ctypes.c_void_p).value or 0
            n = len(packets)
            self._iov = np.empty((n, 2), np.uint64)  # struct iovec {void *base; size_t len}
            self._iov[:, 0] = base + self.starts.astype(np.uint64)
            self._iov[:, 1] = self.ends - self.starts
            # struct mmsghdr {struct msghdr (56 bytes); unsigned int len; pad}: 8 words; only
            # msg_iov (word 2) and msg_iovlen (word 3) are set, the socket is connected
            self._msgs = np.zeros((n, 8), np.uint64)
            self._msgs[:, 2] = self._iov.ctypes.data + np.arange(n, dtype=np.uint64) * 16
            self._msgs[:, 3] = 1

    def send(self, sock: socket.socket, first: int, last: int) -> int:
        """Send packets first..last-1 as datagrams; returns how many were refused (nobody
        listening: the kernel reports an earlier datagram's ICMP error on a later send)."""
        refused = 0
        if self._sendmmsg is None:
            for i in range(first, last):
                try:
                    sock.send(self.view[self.starts[i]:self.ends[i]])
                except ConnectionRefusedError:
                    refused += 1
            return refused
        fd, address = sock.fileno(), self._msgs.ctypes.data
        while first < last:
            done = self._sendmmsg(fd, ctypes.c_void_p(address + first * 64),
                                  min(last - first, 1024), 0)
            if done < 0:
                err = ctypes.get_errno()
                if err == errno.ECONNREFUSED:
                    refused += 1  # this datagram was not sent
                    done = 1
                elif err == errno.EINTR:
                    continue
                else:
                    raise OSError(err, os.strerror(err))
            first += done
        return refused

    def stream(self, first: int, last: int) -> memoryview:
        """Packets first..last-1 back to back (a TCP write)."""
        return self.view[self.starts[first]:self.ends[last - 1]]


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
    except OSError:
        return None


_LIBC = _libc()


def send_udp(packets: Sequence[bytes], host: str, port: int, rate: float, count: int,
             duration: float | None) -> Summary:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.connect((host, port))
    batch = Batch(packets)
    refused = 0

    def send(first: int, last: int) -> None:
        nonlocal refused
        refused += batch.send(sock, first, last)

    return _run("udp", packets, host, port, rate, count, duration, send, sock,
                lambda: refused)


def send_tcp(packets: Sequence[bytes], host: str, port: int, rate: float, count: int,
             duration: float | None) -> Summary:
    """Packets back to back on one connection; what is due goes out in one write."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    batch = Batch(packets)

    def send(first: int, last: int) -> None:
        sock.sendall(batch.stream(first, last))

    return _run("tcp", packets, host, port, rate, count, duration, send, sock, lambda: 0)


def _run(transport: str, packets: Sequence[bytes], host: str, port: int, rate: float,
         count: int, duration: float | None, send: Callable[[int, int], None],
         sock: socket.socket, refused: Callable[[], int]) -> Summary:
    with sock:
        cpu = _cpu()
        sent, seconds, behind = pace(packets, send, rate, count, duration)
        cpu = _cpu() - cpu
        if transport == "tcp":
            sock.shutdown(socket.SHUT_WR)  # an orderly end: the server reads all, then EOF
    n = len(packets)
    total = (sent // n) * sum(map(len, packets)) + sum(map(len, packets[:sent % n]))
    delivered = sent - refused()
    return Summary(transport, f"{host}:{port}", delivered, total, round(seconds, 6),
                   round(delivered / seconds, 1) if seconds else 0.0, rate, round(cpu, 4),
                   refused(), round(behind, 4))


# --- command line ---------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hep_replay.py", description=__doc__.split("\n\n")[0],
                                epilog="Without --count or --duration, sends 1,000 packets (or "
                                       "each packet of the files once). Exit status: 0 sent, "
                                       "1 some UDP datagrams were refused, 2 bad arguments or "
                                       "unreachable server.")
    p.add_argument("host", nargs="?", default="127.0.0.1",
                   help="capture server address (default %(default)s)")
    p.add_argument("port", nargs="?", type=int, default=9069,
                   help="its HEP port (default %(default)s, hepserver's)")
    p.set_defaults(tcp=False)
    transport = p.add_mutually_exclusive_group()
    transport.add_argument("--udp", dest="tcp", action="store_false", help="send over UDP "
                           "(default): one packet per datagram")
    transport.add_argument("--tcp", action="store_true",
                           help="send over one TCP connection, packets back to back")
    p.add_argument("--rate", type=float, default=1000,
                   help="packets per second; 0 = as fast as possible (default %(default)g)")
    amount = p.add_mutually_exclusive_group()
    amount.add_argument("--count", type=int, help="send this many packets")
    amount.add_argument("--duration", type=float, help="send for this many seconds (needs "
                                                       "--rate > 0 unless --count is given)")
    p.add_argument("--file", type=Path, action="append", metavar="FILE",
                   help="replay the HEP packets of FILE instead of generating SIP (repeatable; "
                        "cycled when --count/--duration ask for more)")
    p.add_argument("--auth-key", help="HEP auth key (chunk 0x0e) for servers that require one")
    p.add_argument("--node-name", help="capture agent name (chunk 0x13) of generated packets")
    p.add_argument("--capture-id", type=int, default=2001,
                   help="capture agent id of generated packets (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated traffic")
    p.add_argument("--distinct", type=int, metavar="N",
                   help="generate at most N distinct packets and cycle through them (less "
                        "memory and set-up time for long runs; default: every packet distinct)")
    p.add_argument("--write", type=Path, metavar="FILE",
                   help="write the packets to FILE (HEPv3 back to back) instead of sending")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    return p


def _amount(args: argparse.Namespace, parser: argparse.ArgumentParser, files: int) -> int:
    if args.rate < 0:
        parser.error("--rate must be 0 or more")
    if args.count is not None and args.count < 1:
        parser.error("--count must be at least 1")
    if args.duration is not None:
        if args.duration <= 0:
            parser.error("--duration must be positive")
        if not args.rate:
            parser.error("--duration needs a --rate above 0 (or use --count)")
        return int(args.duration * args.rate)
    return args.count if args.count is not None else (files or 1000)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"port must be between 1 and 65535, not {args.port}")
    key = args.auth_key.encode() if args.auth_key else None
    try:
        packets = [p for f in args.file for p in read_packets(f)] if args.file else []
        if key is not None:
            packets = [with_auth_key(p, key) for p in packets]
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    count = _amount(args, parser, len(packets))
    if not args.file:
        distinct = min(count, args.distinct) if args.distinct else count
        packets = generate(distinct, args.rate, args.seed, args.node_name, key, args.capture_id)
    if args.write:
        write_packets(args.write, packets[:count])
        print(f"wrote {min(count, len(packets)):,} packets to {args.write}", file=sys.stderr)
        return 0
    sender = send_tcp if args.tcp else send_udp
    try:
        summary = sender(packets, args.host, args.port, args.rate, count, args.duration)
    except OSError as exc:
        print(f"hep_replay: cannot send to {args.host}:{args.port} over "
              f"{'TCP' if args.tcp else 'UDP'}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(asdict(summary)))
    else:
        print(f"sent {summary.sent:,} packets ({summary.bytes / 1e6:.1f} MB) over "
              f"{summary.transport.upper()} to {summary.target} in {summary.seconds:.2f} s: "
              f"{summary.rate:,.0f} packets/s, sender CPU {summary.cpu_seconds:.2f} s"
              + (f", {summary.behind_s:.2f} s behind schedule" if summary.behind_s > 0.05 else ""),
              file=sys.stderr)
    if summary.refused:
        print(f"hep_replay: {summary.refused:,} datagrams refused: is a capture server "
              f"listening on UDP {summary.target}?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
