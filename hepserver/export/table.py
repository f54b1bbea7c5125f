"""The exported row: hyena's HEP columns as an analyst queries them in DuckDB.

- `timestamp`: a Parquet timestamp (microseconds, UTC); `hep_type`: the HEP protocol type.
- Addresses: `src_ip` text, `src_ip_v4` (number, IPv4 only), `src_ip_raw` (16 bytes, big
  endian); the same for `dst_ip` (see addresses.py).
- `rcinfo`: the HEP header as JSON, as HEPop and Homer store it (protocolFamily, protocol,
  srcIp, dstIp, srcPort, dstPort, timeSeconds, timeUseconds, payloadType, captureId,
  correlation_id), so queries written for them work.
- Every other column keeps its name and type; columns without a value are null.

An export turns millions of rows a minute into this form, so nothing here copies a column it
can pass on (hyena's arrays go to Parquet as they are) and rcinfo is written by one kernel pass.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from hepserver.export.addresses import address_columns
from hyena.kernels._jit import kernel

__all__ = ["export_table", "PROFILE_TABLES", "table_name", "column_array"]

PROFILE_TABLES = ("call", "registration", "default")
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def table_name(hep_type: int, profile: str | None = None) -> str:
    """Homer's table: hep_proto_1_call / _registration / _default, hep_proto_<t>_default."""
    if hep_type == 1 and profile in PROFILE_TABLES:
        return f"hep_proto_1_{profile}"
    return f"hep_proto_{hep_type}_default"


def column_array(column: pa.ChunkedArray) -> pa.Array:
    """One array for a column; the chunk itself when there is one (combine_chunks copies)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


# --- rcinfo ----------------------------------------------------------------------------------

# rcinfo's members in order: the text before each value, and where the value comes from: a
# column of the number matrix (0-7, see _rcinfo) or a string (8 srcIp, 9 dstIp, 10
# correlation_id). _KEY_STARTS[k]:_KEY_STARTS[k + 1] is member k's text in _KEYS.
_MEMBERS = [('{"protocolFamily":', 0), (',"protocol":', 1), (',"srcIp":', 8),
            (',"dstIp":', 9), (',"srcPort":', 2), (',"dstPort":', 3), (',"timeSeconds":', 4),
            (',"timeUseconds":', 5), (',"payloadType":', 6), (',"captureId":', 7),
            (',"correlation_id":', 10)]
_KEYS = np.frombuffer("".join(k for k, _ in _MEMBERS).encode(), dtype=np.uint8)
_KEY_STARTS = np.cumsum([0] + [len(k) for k, _ in _MEMBERS]).astype(np.uint64)
_SOURCES = np.array([v for _, v in _MEMBERS], dtype=np.uint64)
_FIXED_BYTES = len(_KEYS) + 8 * 20 + 3 * 2 + 1  # member names, numbers at their widest, "", }
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_POWERS = np.array([10 ** k for k in range(1, 20)], dtype=np.uint64)


@kernel
def _rcinfo_rows(numbers: np.ndarray, src_off: np.ndarray, src: np.ndarray,
                 dst_off: np.ndarray, dst: np.ndarray, corr_off: np.ndarray, corr: np.ndarray,
                 corr_valid: np.ndarray, keys: np.ndarray, key_starts: np.ndarray,
                 sources: np.ndarray, powers: np.ndarray, hexdigits: np.ndarray,
                 offsets: np.ndarray, out: np.ndarray) -> None:
    """One JSON object per row. Written without helper calls (numba does not inline across
    functions, and a call per member cost more than the bytes). Indexes are unsigned, so numba
    skips its negative-index wraparound."""
    one, ten = np.uint64(1), np.uint64(10)
    pos = np.uint64(0)
    offsets[0] = 0
    for i in range(np.uint64(numbers.shape[0])):
        for k in range(np.uint64(sources.shape[0])):
            start, length = key_starts[k], key_starts[k + one] - key_starts[k]
            for j in range(length):  # a loop LLVM turns into a copy
                out[pos + j] = keys[start + j]
            pos += length
            source = sources[k]
            if source < np.uint64(8):
                value = numbers[i, source]
                digits = one
                while digits < np.uint64(20) and value >= powers[digits - one]:
                    digits += one
                pos += digits
                p = pos
                for _ in range(digits):
                    p -= one
                    out[p] = np.uint8(48) + np.uint8(value % ten)
                    value //= ten
                continue
            if source == np.uint64(8):
                data, a, b = src, np.uint64(src_off[i]), np.uint64(src_off[i + one])
            elif source == np.uint64(9):
                data, a, b = dst, np.uint64(dst_off[i]), np.uint64(dst_off[i + one])
            else:
                data, a, b = corr, np.uint64(corr_off[i]), np.uint64(corr_off[i + one])
                if not corr_valid[i]:
                    b = a
            out[pos] = 34  # a JSON string: '"', '\\' and control characters escaped
            pos += one
            for j in range(a, b):
                c = data[j]
                if c == 34 or c == 92:
                    out[pos] = 92
                    out[pos + one] = c
                    pos += np.uint64(2)
                elif c < 32:
                    out[pos] = 92  # \u00XX
                    out[pos + one] = 117
                    out[pos + np.uint64(2)] = 48
                    out[pos + np.uint64(3)] = 48
                    out[pos + np.uint64(4)] = hexdigits[c >> 4]
                    out[pos + np.uint64(5)] = hexdigits[c & 15]
                    pos += np.uint64(6)
                else:
                    out[pos] = c
                    pos += one
            out[pos] = 34
            pos += one
        out[pos] = 125  # }
        pos += one
        offsets[i + one] = pos


def _numbers(array: pa.Array, dtype: type) -> np.ndarray:
    """The values of an integer array, null as 0."""
    if array.null_count:
        array = array.fill_null(0)
    return array.to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def _string_parts(array: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, bytes, valid) of a string array, without copying the bytes."""
    n = len(array)
    if array.type != pa.string():
        array = array.cast(pa.string())
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, n + 1, array.offset * 4) if n else \
        np.zeros(1, np.int32)
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None and \
        data_buffer.size else np.zeros(1, np.uint8)
    valid = np.ones(n, dtype=bool) if not array.null_count else \
        array.is_valid().to_numpy(zero_copy_only=False)
    return offsets, data, valid


def _rcinfo(table: pa.Table, src: pa.Array, dst: pa.Array, hep_type: int) -> pa.Array:
    """HEPop's rcinfo JSON per row (capture id 0 and correlation id "" where absent)."""
    n = table.num_rows
    src_off, src_bytes, _ = _string_parts(src)
    dst_off, dst_bytes, _ = _string_parts(dst)
    corr_off, corr_bytes, corr_valid = _string_parts(column_array(table.column("correlation_id")))
    ts = _numbers(column_array(table.column("ts")), np.uint64)
    numbers = np.empty((n, 8), dtype=np.uint64)  # the members that are numbers, by row
    for k, name in enumerate(("ip_family", "ip_proto", "src_port", "dst_port")):
        numbers[:, k] = _numbers(column_array(table.column(name)), np.uint64)
    numbers[:, 4], numbers[:, 5] = np.divmod(ts, np.uint64(1_000_000))
    numbers[:, 6] = hep_type
    numbers[:, 7] = _numbers(column_array(table.column("capture_id")), np.uint64)
    capacity = n * _FIXED_BYTES + 6 * (int(src_off[-1] - src_off[0]) +
                                       int(dst_off[-1] - dst_off[0]) +
                                       int(corr_off[-1] - corr_off[0]))
    offsets = np.empty(n + 1, dtype=np.int32)
    out = np.empty(capacity, dtype=np.uint8)
    _rcinfo_rows(numbers, src_off, src_bytes, dst_off, dst_bytes, corr_off, corr_bytes,
                 corr_valid, _KEYS, _KEY_STARTS, _SOURCES, _POWERS, _HEX, offsets, out)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                 pa.py_buffer(out[:offsets[-1]])])


# --- the table -------------------------------------------------------------------------------

def _timestamps(ts: pa.Array) -> pa.Array:
    """hyena's u64 microseconds as a UTC timestamp array over the same buffer (hyena's times
    stay below 2**63, so the bits are the same as int64's)."""
    if ts.type == _TIMESTAMP:
        return ts
    if ts.type != pa.uint64():
        return ts.cast(pa.int64()).cast(_TIMESTAMP)
    validity, values = ts.buffers()
    return pa.Array.from_buffers(_TIMESTAMP, len(ts), [validity, values], ts.null_count,
                                 ts.offset)


def export_table(table: pa.Table, hep_type: int) -> pa.Table:
    """The export form of rows read from hyena (read_partition of a HEP partition group)."""
    n = table.num_rows
    columns: dict[str, pa.Array] = {
        "timestamp": _timestamps(column_array(table.column("ts"))),
        "hep_type": pa.array(np.full(n, hep_type, dtype=np.uint16)),
    }
    src = address_columns(column_array(table.column("src_ip")), "src_ip")
    dst = address_columns(column_array(table.column("dst_ip")), "dst_ip")
    columns.update(src)
    columns.update(dst)
    columns["rcinfo"] = _rcinfo(table, src["src_ip"], dst["dst_ip"], hep_type)
    for name in table.column_names:
        if name not in ("ts", "source", "src_ip", "dst_ip"):
            columns[name] = column_array(table.column(name))
    return pa.Table.from_pydict(columns)
