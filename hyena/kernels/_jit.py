"""The one place that sets numba options for every kernel.

Kernels are compiled once per machine and cached on disk (`cache=True`); they release the GIL
(`nogil=True`) so the engine can run partitions on a thread pool. numba is imported here only,
after `OMP_WAIT_POLICY=PASSIVE` is set: with the default the OpenMP threads spin and a parallel
region costs milliseconds on a 2-core machine.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402

__all__ = ["kernel", "parallel_kernel", "numba"]


def kernel(fn):
    """Compile a single-threaded, GIL-free kernel with an on-disk cache."""
    return numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")(fn)


def parallel_kernel(fn):
    """Compile a kernel that may use `numba.prange` (only where one call covers many rows)."""
    return numba.njit(nogil=True, cache=True, parallel=True, error_model="numpy")(fn)
