"""Helpers shared by the benchmarks: timing, memory, page cache, scratch directories, tables.

Every benchmark writes to a real disk (never tmpfs) and measures peak RSS per measurement, so the
helpers here reset the kernel's high-water mark instead of reading a lifetime maximum.
"""
from __future__ import annotations

import contextlib
import gc
import os
import platform
import resource
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import psutil

__all__ = ["Stopwatch", "reset_peak_rss", "peak_rss", "current_rss", "memcpy_bandwidth",
           "memory_read_bandwidth", "cold_read_bandwidth", "storage_read_bytes",
           "drop_page_cache", "sync_tree",
           "scratch_root",
           "scratch_dir", "filesystem_of",
           "machine_summary", "print_table", "fmt_count", "fmt_bytes", "settle", "free_port",
           "proc_status_bytes", "udp_snmp"]

MB = 1_000_000
GB = 1_000_000_000


# --- timing -------------------------------------------------------------------------------------

@dataclass
class Stopwatch:
    """Accumulates wall time over several timed regions (appends interleaved with untimed work)."""

    seconds: float = 0.0

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start


# --- memory -------------------------------------------------------------------------------------

def reset_peak_rss(pid: int | None = None) -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next reading covers one measurement.

    Linux only (writing 5 to /proc/<pid>/clear_refs; this process by default, or a child such
    as a server under test); returns False where that is not possible, and peak_rss() then
    reports the lifetime maximum.
    """
    try:
        with open(f"/proc/{pid or 'self'}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss(pid: int | None = None) -> int:
    """Bytes: the high-water mark of resident memory since the last reset_peak_rss() (of this
    process, or of process `pid`)."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 if pid is None else 0


def current_rss() -> int:
    return psutil.Process().memory_info().rss


def memcpy_bandwidth(nbytes: int = 512 << 20, repeats: int = 5) -> float:
    """Bytes per second of np.copyto between two resident arrays (bytes copied, best of runs).

    Both arrays are touched first, so this is the copy itself, without page faults.
    """
    src = np.ones(nbytes // 8, dtype=np.uint64)
    dst = np.zeros_like(src)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return nbytes / best


def memory_read_bandwidth(nbytes: int = 512 << 20, repeats: int = 5) -> float:
    """Bytes per second of summing a resident uint64 array (one read pass, best of runs): the
    ceiling of any scan of bytes already in memory."""
    data = np.ones(nbytes // 8, dtype=np.uint64)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.add.reduce(data)
        best = min(best, time.perf_counter() - start)
    return nbytes / best


def settle() -> None:
    """Collect garbage and write dirty pages out, so one measurement does not pay for the last."""
    gc.collect()
    os.sync()


# --- files and the page cache -------------------------------------------------------------------

def _walk_files(path: Path) -> Iterator[Path]:
    for root, _, files in os.walk(path):
        for name in files:
            yield Path(root) / name


def drop_page_cache(path: str | os.PathLike[str]) -> int:
    """Ask the kernel to drop cached pages of every file under `path`; return files touched.

    Dirty pages cannot be dropped, so the files are synced first (fdatasync), which makes this
    also a way to wait for data written through the page cache to reach the disk.
    """
    count = 0
    for file in _walk_files(Path(path)):
        try:
            fd = os.open(file, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            count += 1
        finally:
            os.close(fd)
    return count


def cold_read_bandwidth(path: str | os.PathLike[str], limit: int = 512 << 20) -> float:
    """Bytes per second of reading the largest files under `path` (up to `limit` bytes) after
    dropping them from the page cache: what filling the cache from this disk costs."""
    files = sorted(_walk_files(Path(path)), key=lambda f: f.stat().st_size, reverse=True)
    chosen, total = [], 0
    for file in files:
        if total >= limit:
            break
        chosen.append(file)
        total += file.stat().st_size
    for file in chosen:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    start = time.perf_counter()
    done = 0
    for file in chosen:
        with open(file, "rb", buffering=0) as f:
            while chunk := f.read(8 << 20):
                done += len(chunk)
    seconds = time.perf_counter() - start
    drop_page_cache(path)
    return done / seconds if seconds else 0.0


def storage_read_bytes() -> int:
    """Bytes this process (all its threads) had read from storage, page faults on mapped files
    included (/proc/self/io read_bytes; 0 where it is not available)."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sync_tree(path: str | os.PathLike[str]) -> None:
    """fsync every file and directory under `path`: what a system that does not sync its own
    output needs before its data would survive a power cut."""
    root = Path(path)
    for file in _walk_files(root):
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for directory, _, _ in os.walk(root):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def filesystem_of(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(mount point, filesystem type) holding `path`, from the longest matching mount."""
    target = os.path.realpath(path)
    best = ("/", "unknown")
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[0]):
            best = (mount, part.fstype)
    return best


def scratch_root(requested: str | None = None) -> Path:
    """A directory on a real disk for benchmark data: `requested`, else the first of $TMPDIR,
    /var/tmp and /tmp that is not tmpfs (memory-backed storage would flatter every system)."""
    candidates = [requested] if requested else [tempfile.gettempdir(), "/var/tmp", "/tmp"]
    for candidate in candidates:
        if candidate and os.path.isdir(candidate):
            if filesystem_of(candidate)[1] not in ("tmpfs", "ramfs") or requested:
                return Path(candidate)
    raise RuntimeError("no scratch directory on a real disk; pass --dir")


@contextlib.contextmanager
def scratch_dir(root: Path, label: str) -> Iterator[Path]:
    """A fresh directory for one measurement, removed (cache dropped first) afterwards."""
    path = root / f"hyena-bench-{label}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            drop_page_cache(path)
        shutil.rmtree(path, ignore_errors=True)


# --- processes and the network ------------------------------------------------------------------

def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (a capture daemon listens on both)."""
    import socket

    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def proc_status_bytes(pid: int, key: str) -> int:
    """A memory field of /proc/PID/status (VmHWM, VmRSS, ...) in bytes, 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def udp_snmp() -> dict[str, int]:
    """The kernel's UDP counters (/proc/net/snmp and snmp6 added up): InDatagrams,
    RcvbufErrors (datagrams dropped for a full socket buffer), InErrors, ..."""
    out: dict[str, int] = {}
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    for name, value in zip(rows[0][1:], rows[1][1:]):
        out[name] = int(value)
    with contextlib.suppress(OSError):
        with open("/proc/net/snmp6") as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name.startswith("Udp6"):
                    key = name[4:]
                    out[key] = out.get(key, 0) + int(value)
    return out


# --- reporting ----------------------------------------------------------------------------------

def machine_summary(data_dir: Path) -> list[str]:
    """Lines describing what the numbers were measured on."""
    usage = shutil.disk_usage(data_dir)
    mount, fstype = filesystem_of(data_dir)
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    return [
        f"cpu: {cpu}, {os.cpu_count()} cores; RAM {psutil.virtual_memory().total / 2**30:.1f} GiB",
        f"data: {data_dir} on {mount} ({fstype}), {usage.free / 2**30:.0f} GiB free "
        f"of {usage.total / 2**30:.0f} GiB",
        f"python {platform.python_version()} on {platform.system()} {platform.release()}",
    ]


def fmt_count(value: float) -> str:
    """3 significant figures with k/M/G suffixes (rates and row counts)."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def fmt_bytes(value: float) -> str:
    for limit, suffix in ((GB, "GB"), (MB, "MB"), (1000, "kB")):
        if abs(value) >= limit:
            return f"{value / limit:.3g} {suffix}"
    return f"{value:.0f} B"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                title: str | None = None) -> None:
    """A plain-text table, first column left-aligned, the rest right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    if title:
        print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))
