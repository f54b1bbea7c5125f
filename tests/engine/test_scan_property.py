"""Scans return exactly what a plain-Python reference returns, for random data and random
filter trees: every operator, every type, dense and sparse, edge values, range bounds.
Streamed chunks concatenate to the unstreamed result; counts agree."""
from __future__ import annotations

import re
import shutil
from collections import Counter
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import hyena
from hyena.engine.scan.result import int128_to_pylist
from hyena.errors import InvalidScanError
from hyena.types import MAX_TIMESTAMP, ColumnType
from tests.support import FAST_TMP

WORDS = ["", "a", "ab", "abc", "INVITE", "invite", "Zürich", "😀smile", "abcabc", "bca", "x" * 40]
TS_EDGES = [0, 1, 5, 1000, MAX_TIMESTAMP - 1, MAX_TIMESTAMP]


def _int_values(rng, ctype, n):
    low, high = ctype.int_range
    edges = [low, high, 0 if low < 0 else low + 1, -1 if low < 0 else high - 1, 7]
    picks = rng.integers(0, 10, n)
    out = []
    for p in picks:
        if p < len(edges):
            out.append(edges[p])
        else:  # a small range so that equality filters hit
            out.append(int(np.clip(int(rng.integers(-20, 21)), low, high)))
    return out


def build(tmp: Path, seed: int, types: list[ColumnType], batches: int, shuffle_ts: bool,
          index: str):
    """A database and its model: rows as {name: value}, with source and ts. `index`: when
    string columns get bloom filters ("none", "first": before the data, "last": after)."""
    rng = np.random.default_rng(seed)
    db = hyena.open(tmp / "db", block_size=4096, pool_blocks=1)
    names = []
    for i, ctype in enumerate(types):
        names.append(f"c{i}")
        db.add_column(f"c{i}", ctype)
        if index == "first" and ctype.is_string:
            db.add_column_index(f"c{i}")
    model = []
    for b in range(batches):
        n = int(rng.integers(1, 700))
        source = int(rng.choice([3, 1, 2**32 - 1]))
        ts = rng.integers(0, 3000, n).astype(np.int64)
        if not shuffle_ts:
            ts = np.sort(ts)
        ts[rng.random(n) < 0.05] = rng.choice(TS_EDGES)
        cols, rows = {}, [{"ts": int(t), "source": source} for t in ts]
        for name, ctype in zip(names, types):
            if rng.random() < 0.15:
                continue  # the column is absent from this batch
            if ctype.is_string:
                values = [WORDS[k] for k in rng.integers(0, len(WORDS), n)]
            else:
                values = _int_values(rng, ctype, n)
            if ctype.is_sparse:
                values = [None if d else v for v, d in zip(values, rng.random(n) < 0.6)]
            cols[name] = values
            for row, v in zip(rows, values):
                row[name] = v
        db.append(source, ts.astype(np.uint64), cols)
        model.extend(rows)
        if rng.random() < 0.3:
            db.flush()
    if index == "last":
        for name, ctype in zip(names, types):
            if ctype.is_string:
                db.add_column_index(name)
    order = {s: i for i, s in enumerate(sorted({r["source"] for r in model}))}
    model.sort(key=lambda r: order[r["source"]])  # stable: append order within a source
    return db, names, model


def _as_bytes(v):
    return v.encode() if isinstance(v, str) else v


def holds(row, column, op, value) -> bool:
    v = row.get(column)
    if v is None:
        return False
    if op == "in":
        return v in value
    if op == "matches":
        return re.search(value, v) is not None
    if isinstance(v, str):
        a, b = v.encode(), value.encode()
        return {"<": a < b, "<=": a <= b, "==": a == b, ">=": a >= b, ">": a > b, "!=": a != b,
                "starts_with": a.startswith(b), "ends_with": a.endswith(b),
                "contains": b in a}[op]
    return {"<": v < value, "<=": v <= value, "==": v == value, ">=": v >= value,
            ">": v > value, "!=": v != value}[op]


def reference(model, min_ts, max_ts, groups, columns):
    out = []
    for row in model:
        if not min_ts <= row["ts"] < max_ts:
            continue
        if groups and not any(all(holds(row, *f) for f in g) for g in groups):
            continue
        out.append({c: row.get(c) for c in columns})
    return out


def table_rows(table, types_by_name):
    data = {}
    for name in table.column_names:
        ctype = types_by_name.get(name)
        if ctype is not None and ctype.is_int128:
            data[name] = int128_to_pylist(table.column(name), ctype.signed)
        else:
            data[name] = table.column(name).to_pylist()
    return [dict(zip(data, values)) for values in zip(*data.values())] if data else []


@st.composite
def filter_for(draw, name, ctype, model):
    present = [r[name] for r in model if r.get(name) is not None]
    if ctype is None:  # ts or source
        ops = ["<", "<=", "==", ">=", ">", "!=", "in"]
        pool = [r[name] for r in model] + ([0, 1, 2**32 - 1] if name == "source" else TS_EDGES)
        op = draw(st.sampled_from(ops))
        value = draw(st.sampled_from(pool))
        return (name, op, [value, draw(st.sampled_from(pool))] if op == "in" else value)
    if ctype.is_string:
        op = draw(st.sampled_from(["<", "<=", "==", ">=", ">", "!=", "in", "starts_with",
                                   "ends_with", "contains", "matches"]))
        pool = present + WORDS + ["zz", "b", "😀"]
        if op == "matches":
            return (name, op, draw(st.sampled_from(["^a", "b.c", "^$", "ü", "(?i)invite$",
                                                    "x{3,}"])))
        if op == "in":
            return (name, op, draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3)))
        return (name, op, draw(st.sampled_from(pool)))
    low, high = ctype.int_range
    op = draw(st.sampled_from(["<", "<=", "==", ">=", ">", "!=", "in"]))
    pool = present + [low, high, 0, 7, low - 1, high + 1]
    if op == "in":
        return (name, op, draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4)))
    return (name, op, draw(st.sampled_from(pool)))


@st.composite
def scenario(draw):
    types = draw(st.lists(st.sampled_from(list(ColumnType)), min_size=1, max_size=5))
    return dict(seed=draw(st.integers(0, 2**32)), types=types,
                batches=draw(st.integers(1, 6)), shuffle_ts=draw(st.booleans()),
                index=draw(st.sampled_from(["none", "first", "last"])))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=scenario(), data=st.data())
def test_scan_matches_reference(case, data):
    tmp = Path(tempfile.mkdtemp(prefix="hyena-scan-", dir=FAST_TMP))
    try:
        db, names, model = build(tmp, **case)
        types = dict(zip(names, case["types"]))
        candidates = [("ts", None), ("source", None)] + list(types.items())
        groups = data.draw(st.lists(
            st.lists(st.sampled_from(candidates).flatmap(
                lambda c: filter_for(c[0], c[1], model)), max_size=3), max_size=3))
        min_ts = data.draw(st.sampled_from([0, 1, 5, 700, 1500, MAX_TIMESTAMP]))
        max_ts = data.draw(st.sampled_from([1500, 3000, MAX_TIMESTAMP, MAX_TIMESTAMP + 1,
                                            2**64]))
        min_ts = min(min_ts, max_ts)
        projection = data.draw(st.lists(st.sampled_from(["ts", "source"] + names), min_size=1,
                                        unique=True))
        expected = reference(model, min_ts, max_ts, groups, projection)
        args = dict(min_ts=min_ts, max_ts=max_ts, filters=[list(g) for g in groups],
                    columns=projection)
        table = db.scan(**args)
        assert table.column_names == projection
        assert table_rows(table, types) == expected
        assert db.count(min_ts=min_ts, max_ts=max_ts, filters=args["filters"]) == len(expected)
        by = data.draw(st.sampled_from(["source"] + names))
        passing = reference(model, min_ts, max_ts, groups, [by])
        assert db.count(min_ts=min_ts, max_ts=max_ts, filters=args["filters"], by=by) == \
            dict(Counter(r[by] for r in passing))
        limit = data.draw(st.sampled_from([1, 7, 500, 4096, 100_000]))
        chunks, state = [], None
        while True:
            chunk, state = db.scan_chunk(row_limit=limit, state=state, **args)
            assert chunk.num_rows <= limit
            chunks.extend(table_rows(chunk, types))
            if state is None:
                break
        assert chunks == expected
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def small_db(fast_tmp_path):
    with hyena.open(fast_tmp_path / "db") as db:
        db.add_column("n", "i32")
        db.add_column("s", "string")
        db.append(1, [1, 2], {"n": [1, 2], "s": ["a", "b"]})
        yield db


@pytest.mark.parametrize("args,text", [
    (dict(min_ts=5, max_ts=4), "min_ts > max_ts"),
    (dict(min_ts=-1), "min_ts"),
    (dict(columns=["nope"]), "unknown column"),
    (dict(columns=[]), "projection cannot be empty"),
    (dict(filters=[("nope", "==", 1)]), "unknown column"),
    (dict(filters=[("n", "==", "1")]), "does not match the column type"),
    (dict(filters=[("n", "==", 1.5)]), "does not match the column type"),
    (dict(filters=[("s", "==", 1)]), "does not match the column type"),
    (dict(filters=[("n", "contains", 1)]), "string operator"),
    (dict(filters=[("s", "matches", "(")]), "bad regular expression"),
    (dict(filters=[("s", "~~", "a")]), "unknown filter operator"),
    (dict(filters=[("n", "in", 5)]), "collection"),
    (dict(filters=[("n", "in", [])]), "at least one"),
    (dict(filters=["n == 1"]), "tuples"),
    (dict(sources=[-1]), "source"),
    (dict(partitions=["not-a-uuid"]), "partition id"),
])
def test_invalid_scans_raise_typed_errors(small_db, args, text):
    with pytest.raises(InvalidScanError, match=re.escape(text)):
        small_db.scan(**args)


def test_bad_stream_arguments(small_db):
    with pytest.raises(InvalidScanError, match="row_limit"):
        small_db.scan_chunk(row_limit=0)
    with pytest.raises(InvalidScanError, match="stream state"):
        small_db.scan_chunk(row_limit=1, state=-5)
