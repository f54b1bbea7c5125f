"""Keep freed heap memory for reuse instead of giving it back to the kernel.

Scan results are fresh arrays (gathered rows, string bytes), one set per partition per query,
and a capture process allocates and frees a few megabytes per batch.
glibc returns freed memory at the top of its heaps once more than M_TRIM_THRESHOLD (128 KiB
to a few MiB, adjusted as it goes) is free, and serves blocks above M_MMAP_THRESHOLD with their
own mmap, so each new set of results lands on pages the kernel must fault in and zero again. On
the VMs this runs on that costs more than writing the results (measured: gathering 8 x 1.3 MB
of strings took 16 ms with fresh pages, 2.3 ms with reused ones). Raising both thresholds
keeps up to TRIM_BYTES of freed memory in the process for reuse (the capture workers went from
0.3 page faults per packet to ~0.02).

It is a process-wide allocator setting, made once when the first scan runs (or by whoever calls
`hyena.retain_freed_memory()`, as the capture daemon's processes do at start); set
HYENA_MALLOC_TUNING=0 in the environment to leave the allocator alone.
"""
from __future__ import annotations

import ctypes
import os
import platform
import threading

__all__ = ["retain_freed_memory", "TRIM_BYTES", "MMAP_BYTES"]

TRIM_BYTES = 256 << 20  # free memory kept at the top of a heap
MMAP_BYTES = 32 << 20  # blocks below this come from the heaps (glibc's maximum)
_M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_state: bool | None = None


def retain_freed_memory() -> bool:
    """Tune glibc's malloc as described above (once per process); True if it is tuned."""
    global _state
    with _lock:
        if _state is None:
            _state = _tune()
        return _state


def _tune() -> bool:
    if os.environ.get("HYENA_MALLOC_TUNING", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES))
