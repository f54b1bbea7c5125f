"""Stateful property test: random schemas and appends against a plain-Python model.

Tiny blocks (4 KiB) and string pools make batches straddle partitions often. At random points
the database is reopened, and "crashed": its directory is copied while open (what a kill -9
leaves behind, minus lost page cache) and the copy must reopen to exactly the last flush.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import hyena
from tests.support import FAST_TMP
from hyena.testing.engine_model import read_rows
from hyena.types import MAX_TIMESTAMP, ColumnType

CONFIG = dict(block_size=4096, pool_blocks=1)


def values_for(ctype: ColumnType) -> st.SearchStrategy:
    if ctype.is_string:
        return st.one_of(st.text(max_size=12), st.text(alphabet="ab€😀", min_size=200,
                                                       max_size=700))
    low, high = ctype.int_range
    return st.one_of(st.sampled_from([low, high, 0 if low <= 0 else low]),
                     st.integers(low, high))


def as_input(ctype: ColumnType, values: list, form: str):
    """The same values in one of the input forms users pass."""
    has_null = any(v is None for v in values)
    if form == "list" or (form == "numpy" and (has_null or ctype.is_int128 or ctype.is_string)):
        return values
    if form == "sparse" and ctype.is_sparse:
        index = [i for i, v in enumerate(values) if v is not None]
        return hyena.Sparse([values[i] for i in index], np.array(index, dtype=np.int64))
    if form == "numpy":
        return np.array(values, dtype=ctype.dtype)
    if ctype.is_int128:
        if has_null:
            return values
        return pa.array([(v & ((1 << 128) - 1)).to_bytes(16, "little") for v in values],
                        pa.binary(16))
    if ctype.is_string:
        return pa.array(values, pa.string())
    return pa.array(values, pa.from_numpy_dtype(ctype.dtype))


VOCABULARY = ["", "INVITE", "a", "é", "😀x", "z" * 300, "ü" * 500, "sip:bob@example.com"]


def random_values(rng: np.random.Generator, ctype: ColumnType, rows: int) -> list:
    """Values spread over the whole range of a type, edge values included."""
    if ctype.is_string:
        return [VOCABULARY[i] for i in rng.integers(0, len(VOCABULARY), rows)]
    low, high = ctype.int_range
    edges = [low, high, 0 if low < 0 else low + 1]
    out = []
    for pick in rng.integers(0, 4, rows):
        if pick < 3:
            out.append(edges[pick])
        else:
            out.append(low + int.from_bytes(rng.bytes(16), "little") % (high - low + 1))
    return out


class AppendMachine(RuleBasedStateMachine):
    @initialize(types=st.lists(st.sampled_from(list(ColumnType)), min_size=1, max_size=4))
    def start(self, types: list[ColumnType]) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="hyena-stateful-", dir=FAST_TMP))
        self.db = hyena.open(self.tmp / "db", **CONFIG)
        self.model: dict[int, list[dict]] = {}
        self.flushed: dict[int, list[dict]] = {}
        self.types: dict[int, ColumnType] = {}
        for ctype in types:
            self.add_column(ctype)

    def teardown(self) -> None:
        self.db.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(ctype=st.sampled_from(list(ColumnType)))
    def add_column(self, ctype: ColumnType) -> None:
        column = self.db.add_column(f"c{len(self.types)}", ctype)
        self.types[column.id] = ctype
        self.flushed = _copy(self.model)  # add_column flushes

    @rule(data=st.data(), source=st.sampled_from([0, 7, 2**32 - 1]),
          rows=st.integers(1, 70), durable=st.booleans())
    def append(self, data, source: int, rows: int, durable: bool) -> None:
        ts = data.draw(st.lists(st.one_of(st.sampled_from([0, MAX_TIMESTAMP]),
                                          st.integers(0, MAX_TIMESTAMP)),
                                min_size=rows, max_size=rows))
        chosen = data.draw(st.lists(st.sampled_from(sorted(self.types)), unique=True)
                           if self.types else st.just([]))
        columns, model_rows = {}, [{0: t} for t in ts]
        for cid in chosen:
            ctype = self.types[cid]
            element = values_for(ctype)
            if ctype.is_sparse:
                element = st.one_of(st.none(), element)
            values = data.draw(st.lists(element, min_size=rows, max_size=rows))
            form = data.draw(st.sampled_from(["list", "numpy", "arrow", "sparse"]))
            columns[f"c{list(self.types).index(cid)}"] = as_input(ctype, values, form)
            for row, value in zip(model_rows, values):
                if value is not None:
                    row[cid] = value
        assert self.db.append(source, np.array(ts, dtype=np.uint64), columns,
                              durable=durable) == rows
        self.model.setdefault(source, []).extend(model_rows)
        if durable:
            self.flushed = _copy(self.model)

    @rule(seed=st.integers(0, 2**32), source=st.sampled_from([0, 7]),
          rows=st.integers(200, 1500), form=st.sampled_from(["list", "numpy", "arrow", "sparse"]),
          null_share=st.sampled_from([0.0, 0.5, 0.97]))
    def bulk_append(self, seed: int, source: int, rows: int, form: str,
                    null_share: float) -> None:
        """Enough rows to fill 4 KiB blocks and string pools several times over."""
        rng = np.random.default_rng(seed)
        ts = rng.integers(0, MAX_TIMESTAMP, rows, dtype=np.uint64, endpoint=True)
        columns, model_rows = {}, [{0: int(t)} for t in ts]
        for position, (cid, ctype) in enumerate(self.types.items()):
            values = random_values(rng, ctype, rows)
            if ctype.is_sparse:
                values = [None if drop else v
                          for v, drop in zip(values, rng.random(rows) < null_share)]
            columns[f"c{position}"] = as_input(ctype, values, form)
            for row, value in zip(model_rows, values):
                if value is not None:
                    row[cid] = value
        assert self.db.append(source, ts, columns) == rows
        self.model.setdefault(source, []).extend(model_rows)

    @rule()
    def flush(self) -> None:
        self.db.flush()
        self.flushed = _copy(self.model)

    @rule()
    def reopen(self) -> None:
        self.db.close()
        self.flushed = _copy(self.model)
        self.db = hyena.open(self.tmp / "db")

    @rule()
    def crash_copy(self) -> None:
        """Copy the live directory (as a kill -9 would leave it) and reopen the copy."""
        copy = self.tmp / "crashed"
        _copy_live_tree(self.tmp / "db", copy)
        try:
            with hyena.open(copy) as reopened:
                assert read_rows(reopened) == _nonempty(self.flushed)
                # The recovered copy takes appends again.
                reopened.append(5, [1], {})
        finally:
            shutil.rmtree(copy)

    @invariant()
    def matches_model(self) -> None:
        if hasattr(self, "db"):
            assert read_rows(self.db) == _nonempty(self.model)


def _copy_live_tree(src: Path, dst: Path) -> None:
    """Copy a directory that a background thread may be changing; files that vanish while we
    copy are left out, as a crash at that instant would leave them (or their replacement)."""
    for directory, _, files in os.walk(src):
        target = dst / Path(directory).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            if name != "LOCK":
                try:
                    shutil.copy2(Path(directory) / name, target / name)
                except FileNotFoundError:
                    pass


def _copy(model: dict[int, list[dict]]) -> dict[int, list[dict]]:
    return {s: [dict(r) for r in rows] for s, rows in model.items()}


def _nonempty(model: dict[int, list[dict]]) -> dict[int, list[dict]]:
    return {s: rows for s, rows in model.items() if rows}


AppendMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestAppendStateful = AppendMachine.TestCase
