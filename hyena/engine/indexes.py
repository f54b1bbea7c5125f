"""Per-partition indexes kept next to the blocks: bloom filters of string columns.

`block_<id>.bloom`: a 64-byte header, the number of 64-bit words of the trigram filter and of
the value filter (two u64), then both filters' words (see hyena/kernels/bloom.py).

An index is built when a partition is sealed (for columns that have an index in the catalog)
and, by `add_column_index`, for partitions sealed before. The head partition has none: scans
read it whole. Index files are written to a temp name, synced and renamed, then meta.data is
rewritten to mention them, so a crash leaves either no index or a complete one.
"""
from __future__ import annotations

import struct

import numpy as np

from hyena.engine.partition import Partition
from hyena.kernels.bloom import build_blooms
from hyena.storage import format as fmt
from hyena.storage.block_file import FileHeader

__all__ = ["build_partition_blooms"]


def build_partition_blooms(part: Partition, column_ids: list[int]) -> bool:
    """Build missing bloom files of these string columns of a sealed partition; True if any
    was built (the caller then rewrites meta.data)."""
    built = False
    for cid in column_ids:
        state = part.columns.get(cid)
        if state is None or not state.type.is_string or state.bloom or state.count == 0:
            continue
        directory = part.directory
        offsets = np.fromfile(directory / fmt.block_file(cid), dtype=np.uint32,
                              count=state.count + 1, offset=fmt.FILE_HEADER_SIZE)
        pool = np.fromfile(directory / fmt.pool_file(cid), dtype=np.uint8,
                           count=state.pool_len, offset=fmt.FILE_HEADER_SIZE)
        trigrams, values = build_blooms(offsets, pool)
        payload = struct.pack("<QQ", len(trigrams), len(values)) + trigrams.tobytes() + \
            values.tobytes()
        header = FileHeader(fmt.BLOOM_MAGIC, int(state.type), cid, 8, len(payload), part.id)
        path = directory / fmt.bloom_file(cid)
        tmp = path.with_name(path.name + fmt.TEMP_SUFFIX)
        part.fs.write_file(tmp, header.pack() + payload)
        part.fs.rename(tmp, path)
        state.bloom = True
        built = True
    return built
