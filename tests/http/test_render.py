"""JSON answers are written column by column; they must be the very bytes that converting
every value on its own and json.dumps give: ISO 8601 times as datetime.isoformat() writes
them, hex bytes, other values as Python's json module writes them. Columns that path cannot
take fall back to value-by-value conversion."""
from __future__ import annotations

import datetime
import decimal
import json

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from hepserver.http.render import ISO_RANGE_US, _row_objects, json_values, jsonable, render

T = 1_764_000_000_000_000


def _rows(table: pa.Table) -> list[dict]:
    """The rows as the API wrote them before: one dict and one conversion per value."""
    return [{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()]


def _check(table: pa.Table) -> list:
    """Both JSON forms are json.dumps's bytes of the value-by-value rows; returns the rows."""
    rows = _rows(table)
    body, kind = render(table, "application/json")
    assert kind == "application/json" and body == json.dumps(rows, default=str).encode()
    lines, _ = render(table, "application/x-ndjson")
    assert lines == "".join(json.dumps(r, default=str) + "\n" for r in rows).encode()
    return json.loads(body)


TABLE = pa.table({
    "utc": pa.array([T, T + 6, None, T + 1_500_000], pa.timestamp("us", tz="UTC")),
    "etc_utc": pa.array([T, None, 0, -1], pa.timestamp("us", tz="Etc/UTC")),
    "naive": pa.array([T, 1, None, 5], pa.timestamp("us")),
    "blob": pa.array([b"\x00\x01", None, b"", b"x\xff"]),
    "addr": pa.array([bytes(range(16)), None, bytes(16), b"\xff" * 16], pa.binary(16)),
    "text": ['a"b\\c\n\t\x01é\u2028😀', None, "", "d"],
    "int": [1, None, -3, 4],
    "big": pa.array([2**64 - 1, 0, None, 1], pa.uint64()),
    "float": [1.5, None, 0.1, 1e-7],
    "float32": pa.array([0.1, None, 1.5, float("inf")], pa.float32()),
    "flag": [True, False, None, True],
    "empty": pa.nulls(4),
})


def test_plain_columns_go_column_wise_and_say_the_same():
    assert _row_objects(TABLE, ", ") is not None
    body = _check(TABLE)
    assert body[0]["utc"] == "2025-11-24T16:00:00+00:00"
    assert body[1]["utc"] == "2025-11-24T16:00:00.000006+00:00"
    assert body[0]["blob"] == "0001" and body[3]["addr"] == "ff" * 16


def test_other_columns_fall_back_to_value_by_value():
    others = {
        "year_1": pa.array([-62_135_596_800_000_000, T, None, 5], pa.timestamp("us", tz="UTC")),
        "berlin": pa.array([T, 1, None, 5], pa.timestamp("us", tz="Europe/Berlin")),
        "ns": pa.array([T * 1000 + 123, 1, None, 5], pa.timestamp("ns", tz="UTC")),
        "date": pa.array([datetime.date(2025, 1, 1), None, None, None]),
        "decimal": pa.array([decimal.Decimal("1.50"), None, None, None]),
        "list": pa.array([[1, 2], None, [], [3]]),
    }
    for name, column in others.items():
        table = TABLE.append_column(name, column)
        assert _row_objects(table, ", ") is None, name
        _check(table)
        assert json_values(table.column(name)) == [jsonable(v) for v in column.to_pylist()]
    assert render(pa.table({"f": [1.0, float("nan"), None]}), "")[0] == \
        b'[{"f": 1.0}, {"f": NaN}, {"f": null}]'  # as json.dumps writes it
    duplicate = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    assert _row_objects(duplicate, ", ") is None and _check(duplicate) == [{"a": 2}]


def test_empty_results():
    empty = TABLE.slice(0, 0)
    assert render(empty, "") == (b"[]", "application/json")
    assert render(empty, "application/x-ndjson")[0] == b""


def test_timestamps_are_written_as_isoformat_writes_them():
    low, high = ISO_RANGE_US
    edges = [low, high, 0, -1, 1, 951_782_400_000_000, 951_868_799_999_999, T, T + 999_999,
             -2_208_988_800_000_000, 4_107_542_400_000_000]  # leap days, 1900, 2100
    draws = np.random.default_rng(5).integers(low, high, 20_000, dtype=np.int64)
    values = np.concatenate([np.array(edges, dtype=np.int64), draws,
                             draws // 1_000_000 * 1_000_000])  # whole seconds too
    for tz in ("UTC", None):
        column = pa.chunked_array([pa.array(values[:7], pa.timestamp("us", tz=tz)),
                                   pa.array(values[7:], pa.timestamp("us", tz=tz)),
                                   pa.array([None, 5], pa.timestamp("us", tz=tz))])
        assert json_values(column) == [jsonable(v) for v in column.to_pylist()]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.none() | st.text(), st.none() | st.integers(-2**63, 2**63 - 1),
                          st.none() | st.floats(),
                          st.none() | st.binary(max_size=8), st.none() | st.booleans()),
                max_size=30),
       st.integers(0, 3))
def test_any_plain_values_say_the_same(rows, cut):
    names = ["t", "i", "f", "b", "ok"]
    columns = list(zip(*rows)) if rows else [[] for _ in names]
    kinds = [pa.string(), pa.int64(), pa.float64(), pa.binary(), pa.bool_()]
    table = pa.table([pa.array(c, k) for c, k in zip(columns, kinds)], names=names)
    _check(table.slice(min(cut, table.num_rows)))  # offsets not at 0 too
