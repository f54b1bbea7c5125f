"""Settings of an open database, passed in explicitly (no module-level state)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hyena.storage.format import BLOCK_SIZE, POOL_BLOCKS

__all__ = ["Config"]


@dataclass(frozen=True)
class Config:
    """How a database lays out and manages its files.

    block_size and pool_blocks are fixed when a data directory is created (they are recorded in
    the catalog); reopening uses the recorded values. The rest may change between opens.
    """

    block_size: int = BLOCK_SIZE
    pool_blocks: int = POOL_BLOCKS
    # Reserve disk space before writing ("auto": yes, except on btrfs/zfs, where copy-on-write
    # makes preallocation neither reserve space nor compress; see docs/operations.md).
    preallocate: Literal["auto", "always", "never"] = "auto"
    # Write sealed partitions back and drop them from the page cache, so long runs of appends
    # recycle cache pages instead of faulting in fresh memory (see docs/operations.md).
    drop_sealed_pages: bool = True
    # Upper bound on read-only maps kept open (None: derived from vm.max_map_count and ulimit -n).
    max_maps: int | None = None
    # Threads that scan partitions concurrently (None: the number of CPUs).
    scan_threads: int | None = None

    def __post_init__(self) -> None:
        if self.block_size < 4096 or self.block_size % 4096:
            raise ValueError("block_size must be a positive multiple of 4096")
        if self.pool_blocks < 1:
            raise ValueError("pool_blocks must be at least 1")
        if self.preallocate not in ("auto", "always", "never"):
            raise ValueError("preallocate must be 'auto', 'always' or 'never'")
