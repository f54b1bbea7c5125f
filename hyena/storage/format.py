"""Constants of the on-disk format (docs/format.md describes every byte)."""
from __future__ import annotations

# Bytes of values per column block. One partition holds one block per column, so this also
# bounds the rows of a partition: 131072 rows for 8-byte columns (ts), 65536 with a 128-bit one.
BLOCK_SIZE = 1 << 20

# A string column's bytes live in a pool file next to its offsets block; a partition is sealed
# before any pool would grow past POOL_BLOCKS * block_size bytes.
POOL_BLOCKS = 64

# Every block, index and pool file starts with a header of this size. 64 keeps the values that
# follow aligned for 16-byte elements, SIMD loads and zero-copy Arrow buffers.
FILE_HEADER_SIZE = 64

# Metadata envelope: magic(8) version(u16) reserved(u16) payload_length(u32) xxh64(u64).
META_HEADER_SIZE = 24

CATALOG_MAGIC = b"HYCATLG\x00"
GROUP_MAGIC = b"HYPGRP\x00\x00"
PARTITION_MAGIC = b"HYPART\x00\x00"
BLOCK_MAGIC = b"HYBLOCK\x00"
INDEX_MAGIC = b"HYINDEX\x00"
POOL_MAGIC = b"HYPOOL\x00\x00"
BLOOM_MAGIC = b"HYBLOOM\x00"
DICT_MAGIC = b"HYDICT\x00\x00"

# Format version of every file kind; readers refuse versions they do not know.
FORMAT_VERSION = 1

CATALOG_FILE = "catalog.data"
GROUP_META_FILE = "pgmeta.data"
PARTITION_META_FILE = "meta.data"
LOCK_FILE = "LOCK"
TEMP_SUFFIX = ".tmp"


def block_file(column_id: int) -> str:
    """Values of a column in a partition (dense values, sparse values, or string offsets)."""
    return f"block_{column_id}.data"


def index_file(column_id: int) -> str:
    """Row indexes (u32, partition-relative) of a sparse column's values."""
    return f"block_{column_id}.index"


def pool_file(column_id: int) -> str:
    """UTF-8 bytes of a string column; the block holds u32 offsets into it."""
    return f"block_{column_id}.pool"


def dict_file(column_id: int) -> str:
    """Codes and distinct strings of a low-cardinality string column in a sealed partition."""
    return f"block_{column_id}.dict"


def bloom_file(column_id: int) -> str:
    """Trigram bloom filter of a string column in a partition (built by add_column_index)."""
    return f"block_{column_id}.bloom"
