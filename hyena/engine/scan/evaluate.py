"""Which rows of one partition pass a scan's time range and filters.

First without touching data: a group is dead in a partition when a filter's column has no
values there, when the column's zone map (min/max) rules the value out, when the partition's
bloom filter lacks the needle, or when a filter on `source` is false for this group. Filters a
zone map proves true for every row are dropped. Then kernels fold the remaining filters of each
live group into a row mask, and the groups are ORed.
"""
from __future__ import annotations

import numpy as np

from hyena.engine.indexes import Dictionary, load_blooms, load_dictionary
from hyena.engine.partition import PartitionSnapshot
from hyena.engine.reader import ColumnData, scan_column, ts_path
from hyena.engine.scan.request import TS_LIMIT, Filter, Op, ScanSpec
from hyena.kernels import compare, strings
from hyena.kernels.bloom import may_contain, trigram_keys, value_key
from hyena.kernels.compare import in_select
from hyena.kernels.dictionary import lookup_dense, lookup_select, lookup_sparse
from hyena.storage import format as fmt
from hyena.storage.mapcache import MapCache
from hyena.types import SOURCE_COLUMN, TS_COLUMN, ColumnType

__all__ = ["live_groups", "row_mask", "select_rows", "read_ahead", "ALL_ROWS"]

ALL_ROWS = None  # row_mask's answer when every row from `start` on passes


def live_groups(part: PartitionSnapshot, spec: ScanSpec,
                maps: MapCache) -> list[list[Filter]] | None:
    """The groups that may match rows of this partition, with the filters still to evaluate;
    None when the scan is unfiltered (every row passes the filters)."""
    if spec.unfiltered:
        return None
    groups = []
    for group in spec.groups:
        remaining: list[Filter] | None = []
        for flt in group:
            verdict = _static(part, flt, maps)
            if verdict is False:
                remaining = None
                break
            if verdict is None:
                remaining.append(flt)
        if remaining is not None:
            if not remaining:
                return None  # this group passes every row: so does the OR
            groups.append(remaining)
    return groups


def _static(part: PartitionSnapshot, flt: Filter, maps: MapCache) -> bool | None:
    """True: the filter holds for every row; False: for none; None: look at the data."""
    cid = flt.column.id
    if cid == SOURCE_COLUMN:
        return _holds(part.source, flt)
    col = part.columns.get(cid)
    if col is None or col.count == 0:
        return False  # no values: a filter never matches a null
    ctype = col.type
    if ctype.is_string:
        if col.bloom and flt.op in (Op.EQ, Op.IN, Op.STARTS_WITH, Op.ENDS_WITH, Op.CONTAINS):
            trigrams, values = load_blooms(part.directory, cid, maps)
            if flt.op == Op.EQ:
                present = may_contain(values, value_key(flt.value))
            elif flt.op == Op.IN:
                present = any(may_contain(values, value_key(v)) for v in flt.value)
            else:
                keys = trigram_keys(flt.value)
                present = not len(keys) or may_contain(trigrams, keys)
            if not present:
                return False
        return None
    if col.vmin is None:
        return None
    lo, hi = col.vmin, col.vmax
    op, c = flt.op, flt.value
    if op == Op.IN:
        if not any(lo <= v <= hi for v in c):
            return False
        return True if (lo == hi and not ctype.is_sparse and lo in c) else None
    if op in (Op.LT, Op.LE, Op.GE, Op.GT, Op.EQ, Op.NE):
        never = {Op.LT: lo >= c, Op.LE: lo > c, Op.GE: hi < c, Op.GT: hi <= c,
                 Op.EQ: c < lo or c > hi, Op.NE: lo == hi == c}[op]
        if never:
            return False
        always = {Op.LT: hi < c, Op.LE: hi <= c, Op.GE: lo >= c, Op.GT: lo > c,
                  Op.EQ: lo == hi == c, Op.NE: c < lo or c > hi}[op]
        if always and not ctype.is_sparse and col.count == part.rows:
            return True
    return None


def _holds(value: int, flt: Filter) -> bool:
    c = flt.value
    if flt.op == Op.IN:
        return value in c
    return {Op.LT: value < c, Op.LE: value <= c, Op.EQ: value == c, Op.GE: value >= c,
            Op.GT: value > c, Op.NE: value != c}[flt.op]


def read_ahead(part: PartitionSnapshot, spec: ScanSpec, maps: MapCache,
               also: int | None = None, projection: bool = False) -> None:
    """Ask for the files this partition's filters (and column `also`, counted by value; with
    `projection`, the columns returned too) will read whole, before the partition is
    scanned: from a cold page cache the disk then reads many partitions at once instead of
    one fault at a time. Columns whose bloom filter decides first are left alone (it usually
    rules the partition out). Once done for a partition and these columns, it costs a
    dictionary lookup (and MapCache.prefetch asks only once per map anyway)."""
    timed = needs_time_filter(part, spec)
    wanted = spec.filter_columns if also is None or also == SOURCE_COLUMN else \
        (*spec.filter_columns, (also, False))
    if projection:
        wanted = tuple((c.id, False) for c in spec.columns if c.id != SOURCE_COLUMN)
        timed = False
    if not maps.first_time(ts_path(part), ("read-ahead", timed, wanted)):
        return  # done for this partition by an earlier scan of the same columns
    if timed:
        scan_column(part, TS_COLUMN, maps)
    for cid, bloomable in wanted:
        col = part.columns.get(cid)
        if col is None or col.count == 0 or (bloomable and col.bloom):
            continue
        if col.dictionary:  # mapped, not read: reading its header would wait for the disk
            maps.read_ahead(f"{part.directory}/{fmt.dict_file(cid)}")
        else:
            scan_column(part, cid, maps)


def needs_time_filter(part: PartitionSnapshot, spec: ScanSpec) -> bool:
    return not (spec.min_ts <= part.min_ts and part.max_ts < spec.max_ts)


def row_mask(part: PartitionSnapshot, spec: ScanSpec, groups: list[list[Filter]] | None,
             maps: MapCache, start: int, mask: np.ndarray, scratch: np.ndarray) -> np.ndarray | None:
    """Mask (uint8, one entry per row from `start` on) of rows that pass, or ALL_ROWS.

    `mask` and `scratch` are reusable buffers of at least rows - start entries."""
    n = part.rows - start
    timed = needs_time_filter(part, spec)
    if groups is None and not timed:
        return ALL_ROWS
    out = mask[:n]
    if timed:
        ts = scan_column(part, TS_COLUMN, maps).values
        compare.range_mask(ts, np.uint64(spec.min_ts), np.uint64(min(spec.max_ts, TS_LIMIT)),
                           out, 0, start)
    if groups is None:
        return out
    if len(groups) == 1:
        _fold(part, groups[0], maps, out, start, initialised=timed)
        return out
    work = scratch[:n]
    base = out.copy() if timed else None
    out[:] = 0
    for group in groups:
        if base is not None:
            work[:] = base
        _fold(part, group, maps, work, start, initialised=base is not None)
        np.bitwise_or(out, work, out=out)
    return out


def select_rows(part: PartitionSnapshot, spec: ScanSpec, groups: list[list[Filter]] | None,
                maps: MapCache, start: int, limit: int, out: np.ndarray) -> int | None:
    """The common case without a mask: one filter left (one group, no time bound inside this
    partition) that a kernel can turn into row numbers directly (a dictionary lookup, or IN
    with at most 8 integers). Writes the first `limit` matching rows from `start` on into
    `out` (room for every row) and returns how many; None when the mask path must be used."""
    if groups is None or len(groups) != 1 or len(groups[0]) != 1 or \
            needs_time_filter(part, spec):
        return None
    flt = groups[0][0]
    cid = flt.column.id
    col = part.columns[cid]
    if col.type.is_sparse:
        return None
    if col.dictionary and flt.op != Op.MATCHES:
        dictionary = load_dictionary(part.directory, cid, maps)
        return int(lookup_select(dictionary.codes, _verdict(flt, dictionary), start, limit, out))
    if flt.op == Op.IN and not col.type.is_string and not col.type.is_int128:
        members = _members(flt, col.type)
        if 0 < len(members) <= 8:
            data = scan_column(part, cid, maps)
            return int(in_select(data.values, members, start, limit, out))
    return None


def _verdict(flt: Filter, dictionary: Dictionary) -> np.ndarray:
    """1 for each distinct string of the dictionary that passes the filter."""
    entries = ColumnData(ColumnType.STRING_DENSE, dictionary.offsets, None, dictionary.pool)
    verdict = np.empty(dictionary.entries, dtype=np.uint8)
    if flt.op == Op.MATCHES:
        verdict[:] = 1
        _apply_regex(flt, entries, verdict, 0)
    else:
        apply_filter(flt, entries, verdict, 0, 0)
    return verdict


def _members(flt: Filter, ctype: ColumnType) -> np.ndarray:
    """An IN filter's values that the column type can hold, as its dtype (sorted); made once
    per filter and type, not per partition."""
    key = (id(flt), ctype)  # by identity: hashing a Filter costs more than the array
    found = _MEMBERS.get(key)
    if found is not None and found[0] is flt:
        return found[1]
    low, high = ctype.int_range
    members = np.array([v for v in flt.value if low <= v <= high], dtype=ctype.dtype)
    if len(_MEMBERS) > 256:
        _MEMBERS.clear()
    _MEMBERS[key] = (flt, members)  # keeps flt alive, so its id is not reused meanwhile
    return members


_MEMBERS: dict[tuple[int, ColumnType], tuple[Filter, np.ndarray]] = {}


def _fold(part: PartitionSnapshot, group: list[Filter], maps: MapCache, mask: np.ndarray,
          start: int, initialised: bool) -> None:
    """AND the group's filters into mask (or store the first one when not initialised).
    Regular expressions on columns without a dictionary run last, on the rows left."""
    mode = 1 if initialised else 0
    late = []
    for flt in group:
        cid = flt.column.id
        data = scan_column(part, cid, maps)
        if part.columns[cid].dictionary:
            _apply_dictionary(flt, data, load_dictionary(part.directory, cid, maps), mask, mode,
                              start)
        elif flt.op == Op.MATCHES:
            late.append((flt, data))
            continue
        else:
            apply_filter(flt, data, mask, mode, start)
        mode = 1
    for flt, data in late:
        if mode == 0:
            mask[:] = 1
        _apply_regex(flt, data, mask, start)
        mode = 1


def _apply_dictionary(flt: Filter, data: ColumnData, dictionary: Dictionary, mask: np.ndarray,
                      mode: int, start: int) -> None:
    """Decide the filter once per distinct string, then look the verdict up per row."""
    verdict = _verdict(flt, dictionary)
    if data.index is None:
        lookup_dense(dictionary.codes, verdict, mask, mode, start)
    else:
        lookup_sparse(dictionary.codes, data.index, verdict, mask, mode, start)


def apply_filter(flt: Filter, data: ColumnData, mask: np.ndarray, mode: int, start: int) -> None:
    ctype = data.type
    op = int(flt.op)
    if ctype.is_string:
        if flt.op == Op.IN:
            set_offsets, set_pool = _string_set(flt.value)
            if data.index is None:
                strings.string_in_dense(data.values, data.pool, set_offsets, set_pool, mask,
                                        mode, start)
            else:
                strings.string_in_sparse(data.values, data.pool, data.index, set_offsets,
                                         set_pool, mask, mode, start)
            return
        needle = np.frombuffer(flt.value, dtype=np.uint8)
        if data.index is None and flt.op == Op.CONTAINS and mode == 0:
            words = data.pool[:len(data.pool) // 8 * 8].view(np.uint64)
            strings.contains_scan(data.values, data.pool, words, needle, mask, start)
        elif data.index is None:
            strings.string_dense(data.values, data.pool, op, needle, mask, mode, start)
        else:
            strings.string_sparse(data.values, data.pool, data.index, op, needle, mask, mode,
                                  start)
        return
    if ctype.is_int128:
        _apply_int128(flt, data, mask, mode, start)
        return
    low, high = ctype.int_range
    if flt.op == Op.IN:
        members = _members(flt, ctype)
        if data.index is None:
            compare.in_dense(data.values, members, mask, mode, start)
        else:
            compare.in_sparse(data.values, data.index, members, mask, mode, start)
        return
    op, c = _clamp(flt.op, flt.value, low, high)
    value = ctype.dtype.type(c)
    if data.index is None:
        compare.compare_dense(data.values, int(op), value, mask, mode, start)
    else:
        compare.compare_sparse(data.values, data.index, int(op), value, mask, mode, start)


def _clamp(op: Op, c: int, low: int, high: int) -> tuple[Op, int]:
    """Rewrite a comparison with a constant outside the type's range into one inside it."""
    if low <= c <= high:
        return op, c
    below = c < low
    if op == Op.EQ:
        return (Op.LT, low) if below else (Op.GT, high)  # never true
    if op == Op.NE:
        return (Op.GE, low) if below else (Op.LE, high)  # always true for present values
    if op in (Op.LT, Op.LE):
        return (Op.LT, low) if below else (Op.LE, high)
    return (Op.GE, low) if below else (Op.GT, high)


def _int128_words(value: int, signed: bool) -> tuple[np.uint64, np.uint64]:
    """(high, low) words of a 128-bit constant in the order the kernels compare them."""
    raw = value & ((1 << 128) - 1)
    hi, lo = raw >> 64, raw & ((1 << 64) - 1)
    if signed:
        hi ^= 1 << 63
    return np.uint64(hi), np.uint64(lo)


def _apply_int128(flt: Filter, data: ColumnData, mask: np.ndarray, mode: int, start: int) -> None:
    ctype = data.type
    pairs = data.values.view(np.uint64).reshape(-1, 2)
    bias = np.uint64(1 << 63) if ctype.signed else np.uint64(0)
    low, high = ctype.int_range
    if flt.op == Op.IN:
        members = [_int128_words(v, ctype.signed) for v in flt.value if low <= v <= high]
        set_hi = np.array([m[0] for m in members], dtype=np.uint64)
        set_lo = np.array([m[1] for m in members], dtype=np.uint64)
        if data.index is None:
            compare.in128_dense(pairs, bias, set_hi, set_lo, mask, mode, start)
        else:
            compare.in128_sparse(pairs, data.index, bias, set_hi, set_lo, mask, mode, start)
        return
    op, c = _clamp(flt.op, flt.value, low, high)
    chi, clo = _int128_words(c, ctype.signed)
    if data.index is None:
        compare.compare128_dense(pairs, bias, int(op), chi, clo, mask, mode, start)
    else:
        compare.compare128_sparse(pairs, data.index, bias, int(op), chi, clo, mask, mode, start)


def _string_set(values: tuple[bytes, ...]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, np.frombuffer(b"".join(values), dtype=np.uint8)


def _apply_regex(flt: Filter, data: ColumnData, mask: np.ndarray, start: int) -> None:
    """Run the pattern only on rows that passed everything else in the group."""
    rows = np.flatnonzero(mask) + start
    if data.index is None:
        positions = rows
    else:
        positions = np.searchsorted(data.index, rows)
        ok = positions < len(data.index)
        ok[ok] = data.index[positions[ok]] == rows[ok]
        mask[rows[~ok] - start] = 0
        rows, positions = rows[ok], positions[ok]
    pattern = flt.value
    offsets = data.values
    pool = data.pool
    for row, p in zip(rows.tolist(), positions.tolist()):
        text = bytes(pool[offsets[p]:offsets[p + 1]]).decode()
        if pattern.search(text) is None:
            mask[row - start] = 0
