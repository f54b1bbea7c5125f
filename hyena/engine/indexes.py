"""Per-partition indexes kept next to the blocks of sealed partitions.

- `block_<id>.bloom` (string columns with an index in the catalog): a 64-byte header, the word
  counts of the trigram and the value filter (two u64), then both filters (kernels/bloom.py).
- `block_<id>.dict` (every string column of short values (64 bytes on average at most) with at most
  65535 distinct values in the partition):
  a 64-byte header, value count, entry count and entry-bytes count (three u64), the codes (u8 or
  u16 per value, padded to 8 bytes), the entries' u32 offsets (padded to 8), their bytes.

Both are built by the writeback thread when a partition is sealed (blooms also by
add_column_index for older partitions). Files are written to a temp name, synced and renamed
before meta.data mentions them, so a crash leaves either no index or a complete one.
The head partition has none: scans read it whole.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from hyena.engine.partition import ColumnState, Partition
from hyena.kernels.bloom import build_blooms
from hyena.kernels.dictionary import build_dictionary
from hyena.kernels.gather import gather_strings
from hyena.storage import format as fmt
from hyena.storage.block_file import FileHeader
from hyena.storage.mapcache import MapCache

__all__ = ["build_partition_blooms", "build_partition_dictionaries", "Dictionary",
           "load_dictionary", "dictionary_texts", "load_blooms"]


_LONGEST_AVERAGE = 64  # bytes per string; columns with longer ones get no dictionary


def _strings(part: Partition, cid: int, state: ColumnState) -> tuple[np.ndarray, np.ndarray]:
    directory = part.directory
    offsets = np.fromfile(directory / fmt.block_file(cid), dtype=np.uint32,
                          count=state.count + 1, offset=fmt.FILE_HEADER_SIZE)
    pool = np.fromfile(directory / fmt.pool_file(cid), dtype=np.uint8,
                       count=state.pool_len, offset=fmt.FILE_HEADER_SIZE)
    return offsets, pool


def _write(part: Partition, name: str, header: FileHeader, payload: bytes) -> None:
    path = part.directory / name
    tmp = path.with_name(path.name + fmt.TEMP_SUFFIX)
    part.fs.write_file(tmp, header.pack() + payload)
    part.fs.rename(tmp, path)


def _pad8(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def build_partition_blooms(part: Partition, column_ids: list[int]) -> bool:
    """Build missing bloom files of these string columns of a sealed partition; True if any
    was built (the caller then rewrites meta.data)."""
    built = False
    for cid in column_ids:
        state = part.columns.get(cid)
        if state is None or not state.type.is_string or state.bloom or state.count == 0:
            continue
        trigrams, values = build_blooms(*_strings(part, cid, state))
        payload = struct.pack("<QQ", len(trigrams), len(values)) + trigrams.tobytes() + \
            values.tobytes()
        _write(part, fmt.bloom_file(cid),
               FileHeader(fmt.BLOOM_MAGIC, int(state.type), cid, 8, len(payload), part.id),
               payload)
        state.bloom = True
        built = True
    return built


def build_partition_dictionaries(part: Partition) -> bool:
    """Dictionaries of the string columns of a sealed partition that have few distinct values."""
    built = False
    for cid, state in part.columns.items():
        if not state.type.is_string or state.dictionary or state.count == 0:
            continue
        if state.pool_len > _LONGEST_AVERAGE * state.count:
            continue  # long texts (payloads) are nearly all distinct: not worth hashing
        offsets, pool = _strings(part, cid, state)
        codes, firsts = build_dictionary(offsets, pool)
        if len(firsts) == 0:
            continue  # too many distinct values to be worth it
        entry_offsets, entry_pool = gather_strings(offsets, pool, firsts)
        width = 1 if len(firsts) <= 256 else 2
        codes = codes.astype(np.uint8 if width == 1 else np.uint16)
        payload = struct.pack("<QQQ", state.count, len(firsts), len(entry_pool)) + \
            _pad8(codes.tobytes()) + _pad8(entry_offsets.astype(np.uint32).tobytes()) + \
            entry_pool.tobytes()
        _write(part, fmt.dict_file(cid),
               FileHeader(fmt.DICT_MAGIC, int(state.type), cid, width, len(payload), part.id),
               payload)
        state.dictionary = True
        built = True
    return built


@dataclass(frozen=True, slots=True)
class Dictionary:
    """codes[k]: the entry of value k; entry e is pool[offsets[e]:offsets[e + 1]]."""

    codes: np.ndarray
    offsets: np.ndarray
    pool: np.ndarray

    @property
    def entries(self) -> int:
        return len(self.offsets) - 1


def load_dictionary(directory, cid: int, maps: MapCache) -> Dictionary:
    """A sealed partition's dictionary of a column (views, built once per map: the file never
    changes)."""
    path = f"{directory}/{fmt.dict_file(cid)}"  # a str: scans load this per partition
    dictionary = maps.memo(path, "dictionary", lambda: _read_dictionary(path, maps))
    maps.prefetch(path)  # its codes are read whole (once per map: see MapCache.prefetch)
    return dictionary


def dictionary_texts(directory, cid: int, maps: MapCache) -> list[str]:
    """The dictionary's distinct strings, decoded (for counting by value)."""
    path = f"{directory}/{fmt.dict_file(cid)}"

    def decode() -> list[str]:
        d = load_dictionary(directory, cid, maps)
        raw, offsets = d.pool.tobytes(), d.offsets.tolist()
        return [raw[offsets[e]:offsets[e + 1]].decode() for e in range(d.entries)]
    return maps.memo(path, "texts", decode)


def _read_dictionary(path: str, maps: MapCache) -> Dictionary:
    count, entries, pool_len = (int(x) for x in maps.view(path, np.uint64, 3))
    width = 1 if entries <= 256 else 2
    codes_bytes = count * width + (-(count * width) % 8)
    offs_bytes = (entries + 1) * 4 + (-((entries + 1) * 4) % 8)
    base = 24
    codes = maps.view(path, np.uint8 if width == 1 else np.uint16, count, start=base // width)
    offsets = maps.view(path, np.uint32, entries + 1, start=(base + codes_bytes) // 4)
    pool = maps.view(path, np.uint8, pool_len, start=base + codes_bytes + offs_bytes)
    return Dictionary(codes, offsets, pool)


def load_blooms(directory, cid: int, maps: MapCache) -> tuple[np.ndarray, np.ndarray]:
    """(trigram filter, value filter) of a string column of a sealed partition."""
    path = f"{directory}/{fmt.bloom_file(cid)}"
    return maps.memo(path, "blooms", lambda: _read_blooms(path, maps))


def _read_blooms(path: str, maps: MapCache) -> tuple[np.ndarray, np.ndarray]:
    n_tri, n_val = (int(x) for x in maps.view(path, np.uint64, 2))
    return (maps.view(path, np.uint64, n_tri, start=2),
            maps.view(path, np.uint64, n_val, start=2 + n_tri))
