"""Which filesystem a path lives on (preallocation and compression advice depend on it)."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["filesystem_type"]


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
        .replace("\\134", "\\")


def filesystem_type(path: str | os.PathLike[str]) -> str:
    """The type (ext4, xfs, btrfs, zfs, tmpfs...) of the mount holding `path`, or 'unknown'."""
    target = Path(path).resolve()
    best, best_type = "", "unknown"
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount = _unescape(fields[1])
                inside = str(target) == mount or str(target).startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, best_type = mount, fields[2]
    except OSError:
        pass
    return best_type
