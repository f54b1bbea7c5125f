"""Capture (HEP ingest): the highest packet rate the daemon stores without losing a packet.

A sender process (tools/hep_replay.py, the operator's tool, same loop) replays realistic SIP
HEPv3 packets at a set rate over UDP on loopback for a bounded time into `python -m hepserver`
(a fresh data directory per step, 2 worker processes, exports and the nanomsg server off). The
rate goes up step by step; a step is lossless when every packet sent is a row in hyena after a
clean SIGTERM, the daemon received each once, and the kernel dropped none (its
/proc/net/snmp RcvbufErrors/InErrors and the daemon's dropped:udp). The same over TCP, where
loss cannot happen (back-pressure) and a step passes when the sender kept its rate and every
packet was stored.

Measured beside it, in the same run: the sender alone (UDP to a bound socket that nobody
reads, TCP to a process that reads and discards) -- the ceiling of the machine for this
sender; and the peer, a bare Python receive loop (recv and count, same socket buffer, no
decoding, no storage) on the same UDP steps: what any Python capture process could reach.
The 2 cores are shared by sender and daemon; that is part of the test.

    python -m benches capture                 # default run (10 s steps, a few minutes)
    python -m benches capture --quick         # smoke run (3 s steps, under a minute)
    python -m benches capture --compression   # on-disk size on btrfs with/without zstd (root)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from benches.common import (filesystem_of, fmt_bytes, fmt_count, free_port, machine_summary,
                            print_table, proc_status_bytes, scratch_root, settle, udp_snmp)

ROOT = Path(__file__).resolve().parents[1]
REPLAY = ROOT / "tools" / "hep_replay.py"
RECEIVE_BUFFER = 32 << 20  # what the daemon asks for (hepserver/ingest/listeners.py)
GOAL_PPS = 100_000
STATS_INTERVAL = 0.25  # seconds between the daemon's counter log lines


# --- the sender -----------------------------------------------------------------------------------

def make_pool(path: Path, count: int) -> tuple[int, float]:
    """Write `count` distinct generated packets to `path`; (packets, mean bytes)."""
    subprocess.run([sys.executable, str(REPLAY), "--count", str(count), "--write", str(path),
                    "--node-name", "bench-edge"], check=True, stderr=subprocess.DEVNULL)
    return count, path.stat().st_size / count


def send(pool: Path, port: int, rate: float, seconds: float, tcp: bool = False,
         count: int | None = None) -> dict:
    """Run the replay tool once; its JSON summary (sent, rate, cpu_seconds, ...)."""
    amount = ["--count", str(count)] if count else ["--duration", str(seconds)]
    done = subprocess.run([sys.executable, str(REPLAY), "127.0.0.1", str(port), "--file",
                           str(pool), "--rate", str(rate), *amount, "--json",
                           "--tcp" if tcp else "--udp"], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"sender failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def sender_ceiling_udp(pool: Path, packets: int) -> dict:
    """The sender alone: UDP at full speed to a bound socket nobody reads (the kernel queues
    what fits and drops the rest, so the sender pays the whole loopback path)."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    try:
        return send(pool, sink.getsockname()[1], 0, 0, count=packets)
    finally:
        sink.close()


def sender_ceiling_tcp(pool: Path, packets: int) -> dict:
    """The sender alone over TCP: to a process that reads 1 MiB at a time and discards."""
    code = ("import socket,sys\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n"
            "print(s.getsockname()[1],flush=True)\nc,_=s.accept()\n"
            "while c.recv(1<<20):\n    pass\n")
    sink = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline())
        return send(pool, port, 0, 0, tcp=True, count=packets)
    finally:
        sink.wait(30)


# --- processes under test -------------------------------------------------------------------------

class Tree:
    """A process and its children: CPU seconds and peak resident memory."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def pids(self) -> list[int]:
        with contextlib.suppress(psutil.Error):
            main = psutil.Process(self.pid)
            return [self.pid] + [c.pid for c in main.children(recursive=True)]
        return [self.pid]

    def cpu(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
        return total

    def peak_rss(self) -> tuple[int, int]:
        """(main process, all processes) high-water marks of resident memory, bytes."""
        peaks = [proc_status_bytes(pid, "VmHWM") for pid in self.pids()]
        return (peaks[0] if peaks else 0), sum(peaks)


class Daemon:
    """`python -m hepserver` on 127.0.0.1 with a fresh data directory."""

    def __init__(self, data_dir: Path, workers: int) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = data_dir.parent / "daemon.log"
        self.log = open(self.log_path, "w")
        # no HTTP API (it is not what is measured); its counters come from the log line
        # it prints every STATS_INTERVAL seconds
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hepserver", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-http", "--data-dir", str(data_dir),
             "--parquet-dir", str(data_dir.parent / "parquet"), "--no-export",
             "--hyena-transport", "off", "--stats-interval", str(STATS_INTERVAL),
             "--workers", str(workers)],
            cwd=ROOT, stderr=self.log, stdout=self.log)
        self.tree = Tree(self.process.pid)
        deadline = time.monotonic() + 180
        while "Ctrl-C to stop" not in self.log_path.read_text():  # banner: workers are ready
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hepserver did not start: {self.log_path.read_text()}")
            time.sleep(0.1)

    def counters(self) -> dict[str, int]:
        """The counters of the daemon's latest log line (received=... stored=...)."""
        text = self.log_path.read_text()
        line = next((ln for ln in reversed(text.splitlines()) if " received=" in ln), "")
        return _counts(line)

    def settled(self, since: float, timeout: float = 60.0) -> float:
        """Wait until everything received is stored and nothing moved for a second; the
        monotonic time the last row was stored (to the log line interval)."""
        last, last_change, deadline = None, since, time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.counters()
            now = time.monotonic()
            state = (counts.get("received"), counts.get("stored"))
            if state != last:
                last, last_change = state, now
            elif now - last_change > 1.0 and counts.get("stored", 0) >= \
                    counts.get("decoded", 0):
                return last_change - STATS_INTERVAL / 2
            time.sleep(STATS_INTERVAL / 2)
        return last_change

    def stop(self) -> dict[str, int]:
        """SIGTERM, wait, and the counters of its last log line ("stopped: ...")."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)
        self.log.close()
        text = self.log_path.read_text()
        if self.process.returncode != 0:
            raise RuntimeError(f"hepserver exited {self.process.returncode}: {text[-2000:]}")
        return _counts(next(ln for ln in reversed(text.splitlines()) if "stopped:" in ln))


def _counts(line: str) -> dict[str, int]:
    counts = {}
    for part in line.split():
        key, eq, value = part.partition("=")
        if eq and value.isdigit():
            counts[key] = int(value)
    return counts


def stored_rows(data_dir: Path) -> int:
    import hyena

    with hyena.open(data_dir) as db:
        return db.count()


class BareReceiver:
    """The peer: a Python loop that receives datagrams and counts them, nothing else."""

    CODE = """
import signal, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.setsockopt(socket.SOL_SOCKET, 33, {buffer})  # SO_RCVBUFFORCE, as the daemon
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, {buffer})
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
count = 0
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
s.settimeout(0.2)
while not stop:
    try:
        s.recv(65535)
        count += 1
    except socket.timeout:
        pass
print(count, flush=True)
"""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c",
                                         self.CODE.format(buffer=RECEIVE_BUFFER)],
                                        stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())
        self.tree = Tree(self.process.pid)

    def stop(self) -> int:
        time.sleep(1.0)  # let it take what is queued
        self.process.send_signal(signal.SIGTERM)
        count = int(self.process.stdout.readline())
        self.process.wait(30)
        return count


# --- one step -------------------------------------------------------------------------------------

@dataclass
class Step:
    """One rate for one receiver."""

    receiver: str  # "hepserver" or "bare loop"
    transport: str
    rate: float
    sent: int
    send_seconds: float
    achieved: float  # packets/s the sender reached
    received: int
    stored: int  # rows in hyena after SIGTERM (bare loop: datagrams counted)
    kernel_drops: int
    daemon_drops: int  # the daemon's dropped:udp and rejected counters
    rows_per_s: float  # stored / (first packet sent .. last row stored)
    drain_s: float  # from the sender's last packet to the last row stored
    receiver_cpu: float  # CPU seconds per second of the step, all processes
    sender_cpu: float  # CPU seconds per second of sending
    peak_rss: tuple[int, int]

    @property
    def kept_rate(self) -> bool:
        """The sender reached the rate (on 2 shared cores a busy receiver can starve it)."""
        return self.achieved >= 0.98 * self.rate

    @property
    def lossless(self) -> bool:
        """Every packet stored once, none dropped, at the rate asked for."""
        return self.stored == self.sent and self.received == self.sent and \
            not self.kernel_drops and not self.daemon_drops and self.kept_rate


def hepserver_step(root: Path, pool: Path, transport: str, rate: float, seconds: float,
                   workers: int) -> Step:
    settle()
    with tempfile.TemporaryDirectory(prefix="hyena-bench-capture-", dir=root) as tmp:
        data = Path(tmp) / "hyena"
        daemon = Daemon(data, workers)
        try:
            before_snmp, cpu0 = udp_snmp(), daemon.tree.cpu()
            start = time.monotonic()
            summary = send(pool, daemon.port, rate, seconds, tcp=transport == "tcp")
            last = daemon.settled(start)
            cpu = daemon.tree.cpu() - cpu0
            after_snmp = udp_snmp()
            peak = daemon.tree.peak_rss()
        finally:
            counts = daemon.stop()
        rows = stored_rows(data)
    rejected = sum(v for k, v in counts.items() if k.startswith("rejected"))
    return Step("hepserver", transport, rate, summary["sent"], summary["seconds"],
                summary["rate"], counts.get("received", 0), rows,
                _drops(before_snmp, after_snmp), counts.get("dropped:udp", 0) + rejected,
                rows / max(last - start, summary["seconds"]),
                max(0.0, last - start - summary["seconds"]),
                cpu / max(last - start, 1e-9), summary["cpu_seconds"] / summary["seconds"],
                peak)


def bare_step(pool: Path, rate: float, seconds: float) -> Step:
    receiver = BareReceiver()
    before_snmp, cpu0 = udp_snmp(), receiver.tree.cpu()
    summary = send(pool, receiver.port, rate, seconds)
    cpu = receiver.tree.cpu() - cpu0
    peak = receiver.tree.peak_rss()
    count = receiver.stop()
    drops = _drops(before_snmp, udp_snmp())
    return Step("bare loop", "udp", rate, summary["sent"], summary["seconds"], summary["rate"],
                count, count, drops, 0, count / summary["seconds"], 0.0,
                cpu / summary["seconds"],
                summary["cpu_seconds"] / summary["seconds"], peak)


def _drops(before: dict[str, int], after: dict[str, int]) -> int:
    """Datagrams the kernel dropped meanwhile (InErrors counts RcvbufErrors too)."""
    return after["InErrors"] - before["InErrors"]


def ladder(run, rates: list[float], misses: int = 2) -> list[Step]:
    """Run rates in order until `misses` steps in a row lose packets."""
    steps, failed = [], 0
    for rate in rates:
        step = run(rate)
        steps.append(step)
        verdict = "lossless" if step.lossless else "LOSS" if step.stored < step.sent or \
            step.kernel_drops else "sender behind"
        print(f"  {step.receiver} {step.transport} {fmt_count(rate)}/s: {verdict} (sent "
              f"{step.sent} at {fmt_count(step.achieved)}/s, stored {step.stored}, kernel "
              f"drops {step.kernel_drops}; load {os.getloadavg()[0]:.1f})", flush=True)
        failed = 0 if step.lossless else failed + 1
        if failed >= misses:
            break
    return steps


def best(steps: list[Step]) -> Step | None:
    """The highest lossless rate below the first loss."""
    good = None
    for step in steps:
        if not step.lossless:
            break
        good = step
    return good


# --- reporting ------------------------------------------------------------------------------------

def report(title: str, steps: list[Step]) -> None:
    rows = [[s.receiver, fmt_count(s.rate), fmt_count(s.sent), fmt_count(s.achieved),
             fmt_count(s.received), fmt_count(s.stored), s.sent - s.stored, s.kernel_drops,
             fmt_count(s.rows_per_s), f"{s.drain_s:.1f}", f"{s.receiver_cpu * 100:.0f}%",
             f"{s.sender_cpu * 100:.0f}%", fmt_bytes(s.peak_rss[0]), fmt_bytes(s.peak_rss[1]),
             "yes" if s.lossless else "no" if s.kept_rate else "no (rate)"] for s in steps]
    print_table(["receiver", "rate/s", "sent", "sent/s", "received", "stored", "lost",
                 "kernel drops", "rows/s stored", "drain s", "receiver CPU", "sender CPU",
                 "RSS main", "RSS all", "lossless"], rows, title)


def goal_lines(udp: list[Step], tcp: list[Step], bare: list[Step], ceiling: dict,
               tcp_ceiling: dict) -> list[str]:
    out = []
    top = best(udp)
    pps = top.rate if top else 0.0
    verdict = "PASS" if pps >= GOAL_PPS else "MISS"
    out.append(f"{verdict}  UDP, zero loss: highest lossless rate {fmt_count(pps)} packets/s "
               f"(target ≥ {fmt_count(GOAL_PPS)}); sender alone {fmt_count(ceiling['rate'])}"
               f"/s, ratio {pps / ceiling['rate']:.2f}")
    top_tcp = best(tcp)
    tcp_pps = top_tcp.rate if top_tcp else 0.0
    out.append(f"info  TCP, sustained and all stored: {fmt_count(tcp_pps)} packets/s; sender "
               f"alone {fmt_count(tcp_ceiling['rate'])}/s, ratio "
               f"{tcp_pps / tcp_ceiling['rate']:.2f}")
    if bare:
        top_bare = best(bare)
        bare_pps = top_bare.rate if top_bare else 0.0
        out.append(f"peer  bare Python receive loop (no decoding, no storage), zero loss: "
                   f"{fmt_count(bare_pps)} packets/s; hepserver ÷ bare loop "
                   f"{pps / bare_pps if bare_pps else 0:.2f}")
    return out


# --- on-disk size with and without compression -----------------------------------------------------

COMPRESSION_RATE = 30_000  # packets/s: comfortably lossless, so every volume gets every packet


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@contextlib.contextmanager
def btrfs_volume(root: Path, name: str, options: str, size_gb: int = 8):
    """A btrfs file system in a file under `root`, loop-mounted with `options`."""
    image, mount = root / f"{name}.img", root / name
    with open(image, "wb") as f:
        f.truncate(size_gb << 30)
    mount.mkdir(exist_ok=True)
    try:
        _run("mkfs.btrfs", "-q", "-f", str(image))
        _run("mount", "-o", f"loop,{options}", str(image), str(mount))
        try:
            yield mount
        finally:
            _run("umount", str(mount))
    finally:
        image.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            mount.rmdir()


def file_kinds(data_dir: Path) -> dict[str, list[Path]]:
    """The data directory's files by what they hold (from the catalog's column types)."""
    import hyena

    with hyena.open(data_dir) as db:
        types = {c.id: (c.name, c.type.label) for c in db.columns}
    kinds: dict[str, list[Path]] = {}
    for path in data_dir.rglob("*"):
        if not path.is_file():
            continue
        kind = "metadata"
        if path.name.startswith("block_"):
            column, _, suffix = path.name[6:].partition(".")
            name, label = types.get(int(column), ("?", "?"))
            if suffix in ("dict", "bloom"):
                kind = "dictionaries, blooms"
            elif suffix == "index":
                kind = "sparse indexes"
            elif name == "payload":
                kind = "payload (bytes + offsets)"
            elif name == "ts":
                kind = "ts (u64)"
            elif label == "u128":
                kind = "addresses (u128)"
            elif label.startswith("string"):
                kind = "other strings (bytes + offsets)"
            else:
                kind = "other integers"
        kinds.setdefault(kind, []).append(path)
    return kinds


def _du(paths: list[Path]) -> tuple[int, int]:
    """(bytes the files say they hold, bytes allocated on disk)."""
    apparent = allocated = 0
    for path in paths:
        st = path.stat()
        apparent += st.st_size
        allocated += st.st_blocks * 512
    return apparent, allocated


def _compsize(paths: list[Path]) -> tuple[int, int] | None:
    """btrfs' (disk usage, uncompressed) bytes of the files' extents, via compsize -b."""
    if not paths or not shutil.which("compsize"):
        return None
    out = subprocess.run(["compsize", "-b", *map(str, paths)], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "TOTAL":
            return int(parts[2]), int(parts[3])
    return None


def capture_into(data_dir: Path, pool: Path, packets: int, workers: int) -> tuple[int, int]:
    """Capture `packets` packets into a new data directory; (sent, stored rows)."""
    daemon = Daemon(data_dir, workers)
    try:
        summary = send(pool, daemon.port, COMPRESSION_RATE, packets / COMPRESSION_RATE)
        daemon.settled(time.monotonic())
    finally:
        daemon.stop()
    os.sync()
    return summary["sent"], stored_rows(data_dir)


def compression(args: argparse.Namespace, root: Path) -> int:
    """Bytes on disk of the same capture on btrfs with zstd, btrfs without, and ext4/`root`."""
    if os.geteuid() != 0 or not shutil.which("mkfs.btrfs"):
        print("--compression needs root and btrfs-progs (apt-get install btrfs-progs "
              "btrfs-compsize)", file=sys.stderr)
        return 2
    print("capture compression (benches/capture.py --compression)")
    for line in machine_summary(root):
        print(line)
    results = []
    with tempfile.TemporaryDirectory(prefix="hyena-bench-compress-", dir=root) as tmp:
        work = Path(tmp)
        pool = work / "pool.hep"
        _, mean = make_pool(pool, min(args.packets, args.pool))
        print(f"{fmt_count(args.packets)} generated SIP packets (mean {mean:.0f} B) captured "
              f"at {fmt_count(COMPRESSION_RATE)}/s into each volume")
        volumes = [("btrfs compress=zstd", "zstd", "compress=zstd,noatime"),
                   ("btrfs, no compression", "plain", "noatime")]
        for label, name, options in volumes:
            with btrfs_volume(work, name, options) as mount:
                data = mount / "hyena"
                sent, rows = capture_into(data, pool, args.packets, args.workers)
                results.append((label, sent, rows, _sizes(data)))
        data = work / "ext4" / "hyena"
        data.parent.mkdir()
        sent, rows = capture_into(data, pool, args.packets, args.workers)
        results.append((f"{filesystem_of(work)[1]} ({root})", sent, rows, _sizes(data)))
    report_sizes(results)
    return 0


def _sizes(data_dir: Path) -> dict[str, tuple[int, int, tuple[int, int] | None]]:
    kinds = file_kinds(data_dir)
    everything = [p for paths in kinds.values() for p in paths]
    out = {kind: (*_du(paths), _compsize(paths)) for kind, paths in sorted(kinds.items())}
    out["TOTAL"] = (*_du(everything), _compsize(everything))
    return out


def report_sizes(results: list) -> None:
    for label, sent, rows, sizes in results:
        rows_note = "" if rows == sent else f" (only {rows} of {sent} stored!)"
        table = []
        for kind, (apparent, allocated, comp) in sizes.items():
            disk = comp[0] if comp else allocated
            table.append([kind, fmt_bytes(apparent), fmt_bytes(allocated),
                          fmt_bytes(comp[1]) if comp else "-", fmt_bytes(disk),
                          f"{disk / rows:.0f}" if rows else "-",
                          f"{disk / comp[1] * 100:.0f}%" if comp and comp[1] else "-"])
        print_table(["files", "apparent size", "du (allocated)", "data written",
                     "on disk", "B/row", "disk ÷ written"], table,
                    f"{label}: {fmt_count(rows)} rows{rows_note}")
    base = next((s for label, _, _, s in results if "no compression" in label), None)
    zstd = next((s for label, _, _, s in results if "zstd" in label), None)
    if base and zstd and base["TOTAL"][2] and zstd["TOTAL"][2]:
        print(f"\nzstd keeps {zstd['TOTAL'][2][0] / base['TOTAL'][2][0] * 100:.0f}% of the bytes "
              f"btrfs stores without compression")


# --- command line ---------------------------------------------------------------------------------

def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benches capture", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s steps, fewer")
    parser.add_argument("--seconds", type=float, help="seconds per step (default 10, quick 3)")
    parser.add_argument("--rates", help="comma-separated packets/s to step through over UDP "
                                        "(default 50k..150k by 25k; quick 50k,100k)")
    parser.add_argument("--tcp-rates", help="the same over TCP (default 50k,100k,150k; "
                                            "quick 100k)")
    parser.add_argument("--peer-rates", help="the same for the bare receive loop (default "
                                             "50k,100k,150k,200k; quick 100k)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="daemon worker processes (default: one per CPU, %(default)s)")
    parser.add_argument("--pool", type=int, help="distinct packets the sender cycles through "
                                                 "(default 300,000, quick 100,000)")
    parser.add_argument("--no-tcp", action="store_true", help="skip the TCP steps")
    parser.add_argument("--no-peer", action="store_true", help="skip the bare receive loop")
    parser.add_argument("--dir", help="scratch directory on the disk to measure")
    parser.add_argument("--compression", action="store_true",
                        help="instead: capture into btrfs loop mounts with and without zstd "
                             "and report the bytes on disk (needs root, btrfs-progs)")
    parser.add_argument("--packets", type=int, default=300_000,
                        help="packets captured for --compression (default %(default)s)")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    defaults = {"rates": ("50000,100000", "50000,75000,100000,125000,150000"),
                "tcp_rates": ("100000", "50000,100000,150000"),
                "peer_rates": ("100000", "50000,100000,150000,200000")}
    for name, (quick, full) in defaults.items():
        value = getattr(args, name) or (quick if args.quick else full)
        setattr(args, name, [float(r) for r in value.split(",")])
    args.pool = args.pool or (100_000 if args.quick else 300_000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    root = scratch_root(args.dir)
    if args.compression:
        return compression(args, root)
    print("capture benchmark (benches/capture.py)")
    for line in machine_summary(root):
        print(line)
    print(f"load average at start {os.getloadavg()[0]:.1f} (other work on the machine shares "
          f"its 2 cores)")
    print(f"net.core.rmem_max {Path('/proc/sys/net/core/rmem_max').read_text().strip()}; "
          f"daemon: {args.workers} workers, {RECEIVE_BUFFER >> 20} MiB receive buffers "
          f"(SO_RCVBUFFORCE as root); steps of {args.seconds:g} s")
    with tempfile.TemporaryDirectory(prefix="hyena-bench-pool-", dir=root) as tmp:
        pool = Path(tmp) / "pool.hep"
        count, mean = make_pool(pool, args.pool)
        print(f"sender: tools/hep_replay.py replaying {fmt_count(count)} distinct generated SIP "
              f"packets (calls, registrations, OPTIONS), mean {mean:.0f} B, cycled")
        ceiling = sender_ceiling_udp(pool, int(max(args.rates) * args.seconds))
        tcp_ceiling = sender_ceiling_tcp(pool, int(max(args.tcp_rates) * args.seconds * 4))
        print(f"sender alone, UDP to a bound socket nobody reads: {fmt_count(ceiling['rate'])} "
              f"packets/s ({ceiling['cpu_seconds'] / ceiling['seconds'] * 100:.0f}% CPU)")
        print(f"sender alone, TCP to a process that discards: {fmt_count(tcp_ceiling['rate'])} "
              f"packets/s ({tcp_ceiling['cpu_seconds'] / tcp_ceiling['seconds'] * 100:.0f}% "
              f"CPU)", flush=True)
        udp = ladder(lambda r: hepserver_step(root, pool, "udp", r, args.seconds, args.workers),
                     args.rates)
        tcp = [] if args.no_tcp else ladder(
            lambda r: hepserver_step(root, pool, "tcp", r, args.seconds, args.workers),
            args.tcp_rates)
        bare = [] if args.no_peer else ladder(lambda r: bare_step(pool, r, args.seconds),
                                              args.peer_rates)
    report("UDP into hepserver (CPU: % of one core, all processes)", udp)
    if tcp:
        report("TCP into hepserver", tcp)
    if bare:
        report("peer: bare Python receive loop, UDP", bare)
    print("\nissue goals:")
    for line in goal_lines(udp, tcp, bare, ceiling, tcp_ceiling):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
