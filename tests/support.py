"""Helpers shared by tests (importable as `tests.support`)."""
from __future__ import annotations

from pathlib import Path

# Property tests check logic, not the disk: where a RAM filesystem exists they run there, so
# thousands of fsyncs cost nothing. Crash and disk tests use real disks explicitly.
FAST_TMP = "/dev/shm" if Path("/dev/shm").is_dir() else None
