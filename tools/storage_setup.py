#!/usr/bin/env python3
"""Check (and optionally set) what a hyena data directory needs from its machine.

    python tools/storage_setup.py DATA_DIR            # report only
    python tools/storage_setup.py DATA_DIR --compress zstd   # also enable compression

Reports the filesystem and its compression (btrfs: `btrfs property`; zfs: the dataset's
`compression` property), and warns when vm.max_map_count or the open-files limit are low for a
large data directory. Compression must be set before data is written to take effect for it.
Exit status: 0 all good, 1 warnings, 2 error. See docs/operations.md.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hyena.storage.fstype import filesystem_type  # noqa: E402

MIN_MAP_COUNT = 262_144
MIN_NOFILE = 65_536


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


def btrfs_compression(directory: Path, want: str | None) -> list[str]:
    warnings = []
    if not shutil.which("btrfs"):
        return ["btrfs-progs is not installed: cannot read or set compression (apt install btrfs-progs)"]
    if want:
        done = run("btrfs", "property", "set", str(directory), "compression", want)
        if done.returncode:
            return [f"could not set compression: {done.stderr.strip()}"]
        print(f"set btrfs compression={want} on {directory} (applies to files created from now on)")
    current = run("btrfs", "property", "get", str(directory), "compression").stdout.strip()
    print(f"btrfs property: {current or 'compression not set on the directory'}")
    mounts = Path("/proc/self/mounts").read_text()
    if not current and "compress" not in mounts:
        warnings.append("btrfs compression is off: run with --compress zstd, or mount with "
                        "-o compress=zstd")
    return warnings


def zfs_compression(directory: Path, want: str | None) -> list[str]:
    if not shutil.which("zfs"):
        return ["zfs tools not found: cannot read or set compression"]
    dataset = run("zfs", "list", "-H", "-o", "name", str(directory)).stdout.strip()
    if not dataset:
        return [f"no zfs dataset found for {directory}"]
    if want:
        done = run("zfs", "set", f"compression={want}", dataset)
        if done.returncode:
            return [f"could not set compression: {done.stderr.strip()}"]
        print(f"set zfs compression={want} on dataset {dataset}")
    value = run("zfs", "get", "-H", "-o", "value", "compression", dataset).stdout.strip()
    print(f"zfs dataset {dataset}: compression={value}")
    return [] if value not in ("off", "") else ["zfs compression is off: run with --compress zstd"]


def limits() -> list[str]:
    warnings = []
    try:
        map_count = int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        map_count = None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(f"vm.max_map_count={map_count}  ulimit -n: soft={soft} hard={hard} "
          "(hyena raises the soft limit to the hard one)")
    if map_count is not None and map_count < MIN_MAP_COUNT:
        warnings.append(f"vm.max_map_count is {map_count}: hyena keeps at most a quarter of it "
                        f"mapped; for faster scans of large directories raise it, e.g. "
                        f"sysctl -w vm.max_map_count={MIN_MAP_COUNT}")
    if hard != resource.RLIM_INFINITY and hard < MIN_NOFILE:
        warnings.append(f"the open-files hard limit is {hard}: raise it (LimitNOFILE= in a "
                        f"systemd unit, or /etc/security/limits.conf) to at least {MIN_NOFILE}")
    return warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="data directory (created if missing)")
    parser.add_argument("--compress", metavar="ALGO",
                        help="enable filesystem compression (btrfs: zstd, lzo, zlib; zfs: zstd, lz4)")
    args = parser.parse_args(argv)
    try:
        args.directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot create {args.directory}: {exc}", file=sys.stderr)
        return 2
    fstype = filesystem_type(args.directory)
    print(f"{args.directory}: filesystem {fstype}")
    if fstype == "btrfs":
        warnings = btrfs_compression(args.directory, args.compress)
    elif fstype == "zfs":
        warnings = zfs_compression(args.directory, args.compress)
    else:
        warnings = [f"{fstype} does not compress: hyena stores raw columns; put the data "
                    "directory on btrfs (compress=zstd) or zfs (compression=zstd) to save space"]
        if args.compress:
            print("error: --compress needs btrfs or zfs", file=sys.stderr)
            return 2
    warnings += limits()
    for warning in warnings:
        print(f"warning: {warning}")
    return 1 if warnings else 0


if __name__ == "__main__":
    sys.exit(main())
