"""Query results as response bodies: JSON (an array of row objects, the default), NDJSON, CSV
or Arrow IPC, chosen by the Accept header. Timestamps are ISO 8601 (as datetime.isoformat()
writes them), bytes hex, other values as Python's json module writes them.

Results of tens of thousands of rows are common, and building a dict and a datetime per row
costs microseconds each, so JSON is written column-wise where the columns allow it: each
column becomes the JSON text of its values (timestamps by a numba kernel, bytes with numpy,
text that needs no escape and integers by Arrow, the rest by the json module's own encoder),
Arrow joins them into the row objects, and the answer is those objects' bytes: the same bytes
json.dumps writes. Columns of other types (decimals, nested types, time zones other than
UTC...) take the value-by-value path.
"""
from __future__ import annotations

import io
import json
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.ipc

from hyena.kernels._jit import kernel

__all__ = ["render", "json_values", "jsonable"]

ARROW = "application/vnd.apache.arrow.stream"
# Timestamps (µs) that datetime.isoformat() writes with a 4-digit year: years 1000-9999.
ISO_RANGE_US = (-30_610_224_000_000_000, 253_402_300_799_999_999)
_UTC = {"UTC", "Etc/UTC", "+00:00", "Z", "GMT", "Etc/GMT"}
_AS_IS = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer,
          pa.types.is_boolean, pa.types.is_null)
_ESCAPED = r'[^\x20-\x7e]|["\\]'  # what json.dumps (ensure_ascii) writes as an escape
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def render(table: pa.Table, accept: str) -> tuple[bytes, str]:
    """(body, content type) of a result for an Accept header."""
    if "application/vnd.apache.arrow" in accept:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue(), ARROW
    if "text/csv" in accept:
        sink = io.BytesIO()
        pa.csv.write_csv(table, sink)
        return sink.getvalue(), "text/csv"
    lines = "application/x-ndjson" in accept or "application/jsonl" in accept
    objects = _row_objects(table, "\n" if lines else ", ")
    if objects is not None:
        text = _data(objects)
        body = text if lines else b"[" + text[:-2] + b"]"
    else:
        rows = _rows(table)
        body = ("".join(json.dumps(row, default=str) + "\n" for row in rows) if lines
                else json.dumps(rows, default=str)).encode()
    return body, "application/x-ndjson" if lines else "application/json"


# --- value by value ---------------------------------------------------------------------------

def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _rows(table: pa.Table) -> list[dict]:
    names = table.column_names
    return [dict(zip(names, values))
            for values in zip(*(json_values(column) for column in table.columns))]


def json_values(column: pa.ChunkedArray) -> list:
    """A column as JSON-ready Python values: `jsonable` of each value, computed column-wise
    for text, numbers and UTC or naive µs timestamps."""
    if any(test(column.type) for test in _AS_IS) or pa.types.is_floating(column.type):
        return column.to_pylist()
    text = _as_text(column)
    if text is not None:
        return text.to_pylist()
    return [jsonable(v) for v in column.to_pylist()]


# --- column-wise ------------------------------------------------------------------------------

def _as_text(column: pa.ChunkedArray) -> pa.Array | None:
    """A timestamp or bytes column as the text `jsonable` makes of each value, or None."""
    kind = column.type
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_timestamp(kind) and kind.unit == "us" and (kind.tz is None or kind.tz in _UTC):
        micros = array.cast(pa.int64()).fill_null(0).to_numpy()
        if not len(micros) or (ISO_RANGE_US[0] <= micros.min() and
                               micros.max() <= ISO_RANGE_US[1]):
            return _isoformat(micros, array.is_valid(), kind.tz is not None)
    if pa.types.is_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return _hex_text(array.cast(pa.binary()))
    return None


def _row_objects(table: pa.Table, end: str) -> pa.Array | None:
    """Each row's JSON object as json.dumps writes it, followed by `end`; None if a column
    cannot be written column-wise."""
    texts = []
    for column in table.columns:
        text = _json_text(column)
        if text is None:
            return None
        texts.append(text)
    if not texts or len(set(table.column_names)) != len(texts):
        return None  # json.dumps of a dict keeps the last of equal keys
    parts: list[Any] = []
    for i, (name, text) in enumerate(zip(table.column_names, texts)):
        parts += [("{" if i == 0 else ", ") + json.dumps(name) + ": ", text]
    parts.append("}" + end)
    return pc.binary_join_element_wise(*parts, "")


def _json_text(column: pa.ChunkedArray) -> pa.Array | None:
    """The JSON text of each value of a column, as json.dumps writes it (None: not here)."""
    kind = column.type
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_null(kind):
        return pa.repeat(pa.scalar("null"), len(array))
    if pa.types.is_integer(kind):
        return array.cast(pa.string()).fill_null("null")
    if pa.types.is_boolean(kind):
        return pc.if_else(array, "true", "false").fill_null("null")
    if pa.types.is_floating(kind):  # float.__repr__, as json.dumps; NaN and inf included
        return pa.array([json.dumps(v) for v in array.to_pylist()], pa.string())
    made = not (pa.types.is_string(kind) or pa.types.is_large_string(kind))
    if made:  # ISO times or hex: nothing to escape
        array = _as_text(array)
        if array is None:
            return None
    array = array.cast(pa.string())
    quoted = pc.binary_join_element_wise('"', array, '"', "")
    escape = None if made else pc.match_substring_regex(array, _ESCAPED)
    if escape is not None and pc.any(escape).as_py():  # the json module's encoder for those
        special = array.filter(escape).to_pylist()
        rows = np.flatnonzero(escape.fill_null(False).to_numpy(zero_copy_only=False))
        encoded = quoted.to_pylist()
        for row, value in zip(rows, special):
            encoded[row] = encode_basestring_ascii(value)
        quoted = pa.array(encoded, pa.string())
    return quoted.fill_null("null")


def _data(strings: pa.Array) -> bytes:
    """The bytes of a string array's values, one after the other."""
    if len(strings) == 0:
        return b""
    offsets = np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1, strings.offset * 4)
    start, end = int(offsets[0]), int(offsets[-1])
    return strings.buffers()[2].slice(start, end - start).to_pybytes()


def _hex_text(array: pa.Array) -> pa.Array:
    """bytes.hex() of each value."""
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], np.int32, n + 1, array.offset * 4)
    start, end = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(array.buffers()[2], np.uint8, end - start, start) \
        if end > start else np.zeros(0, np.uint8)
    digits = np.empty((len(data), 2), dtype=np.uint8)
    digits[:, 0], digits[:, 1] = _HEX[data >> 4], _HEX[data & 15]
    validity = None if array.null_count == 0 else array.is_valid().buffers()[1]
    return pa.StringArray.from_buffers(n, pa.py_buffer(((offsets - start) * 2).astype(np.int32)),
                                       pa.py_buffer(digits), validity)


@kernel
def _iso_rows(micros: np.ndarray, utc: bool, offsets: np.ndarray, out: np.ndarray) -> None:
    """datetime.isoformat() of µs timestamps (years 1000-9999) into out/offsets: the date
    from the day number (H. Hinnant's civil_from_days), ".ffffff" unless 0, "+00:00"."""
    pos = 0
    offsets[0] = 0
    for i in range(micros.shape[0]):
        days = micros[i] // 86_400_000_000
        rest = micros[i] - days * 86_400_000_000
        seconds, fraction = rest // 1_000_000, rest % 1_000_000
        z = days + 719_468
        era = z // 146_097
        doe = z - era * 146_097
        yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        day = doy - (153 * mp + 2) // 5 + 1
        month = mp + 3 if mp < 10 else mp - 9
        year = yoe + era * 400 + (1 if month <= 2 else 0)
        for width, value, sep in ((4, year, 45), (2, month, 45), (2, day, 84),
                                  (2, seconds // 3600, 58), (2, seconds // 60 % 60, 58),
                                  (2, seconds % 60, 0)):
            for k in range(width - 1, -1, -1):
                out[pos + k] = 48 + value % 10
                value //= 10
            pos += width
            if sep:
                out[pos] = sep
                pos += 1
        if fraction:
            out[pos] = 46  # "."
            for k in range(6, 0, -1):
                out[pos + k] = 48 + fraction % 10
                fraction //= 10
            pos += 7
        if utc:
            for k, byte in enumerate((43, 48, 48, 58, 48, 48)):  # "+00:00"
                out[pos + k] = byte
            pos += 6
        offsets[i + 1] = pos


def _isoformat(micros: np.ndarray, valid: pa.Array, utc: bool) -> pa.Array:
    """datetime.isoformat() of UTC (or naive) µs timestamps of years 1000-9999."""
    n = len(micros)
    offsets = np.empty(n + 1, dtype=np.int32)
    out = np.empty(n * 32, dtype=np.uint8)
    _iso_rows(micros, utc, offsets, out)
    validity = None if valid.false_count == 0 else valid.buffers()[1]  # is_valid(): offset 0
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets),
                                       pa.py_buffer(out[:offsets[-1]]), validity)
