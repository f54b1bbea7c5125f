"""kill -9 a writer at random moments; after every restart the store must equal the first L
batches for some L no smaller than the last acknowledged one, and take appends again."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np

import hyena
from hyena.engine.check import check_directory
from hyena.testing.engine_model import read_rows
from tests.engine import crash_writer
from tests.support import kill_at_random

ROOT = Path(__file__).resolve().parents[2]
KILLS = 24


def expected_rows(batches: int, columns: dict[str, int]) -> dict[int, list[dict]]:
    """The model: rows of batches 0..batches-1 per source, as read_rows returns them."""
    model: dict[int, list[dict]] = {}
    for i in range(batches):
        source, ts, data = crash_writer.batch(i)
        rows = [{0: int(t)} for t in ts]
        for name, values in data.items():
            cid = columns[name]
            if isinstance(values, hyena.Sparse):
                for position, value in zip(np.asarray(values.index).tolist(), values.values):
                    rows[position][cid] = int(value)
            else:
                for row, value in zip(rows, values):
                    if value is not None:
                        row[cid] = int(value) if isinstance(value, np.integer) else value
        model.setdefault(source, []).extend(rows)
    return model


def count_batches(store: dict[int, list[dict]], upper: int) -> int:
    """The L for which the per-source row counts of batches 0..L-1 equal the store's."""
    target = {s: len(r) for s, r in store.items() if r}
    counts: dict[int, int] = {}
    if not target:
        return 0
    for i in range(upper):
        source, ts, _ = crash_writer.batch(i)
        counts[source] = counts.get(source, 0) + len(ts)
        if counts == target:
            return i + 1
    raise AssertionError(f"store is not a prefix of the batches: {target}")


def test_kill_dash_nine_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "db"  # a real disk, not tmpfs
    rng = random.Random(1234)
    next_batch, acked_total = 0, -1
    for kill in range(KILLS):
        out, _ = kill_at_random([sys.executable, "-m", "tests.engine.crash_writer", str(data),
                                 str(next_batch)], rng, cwd=ROOT, after_ready=(0.05, 0.8),
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        acked = [int(line.split()[1]) for line in out.splitlines() if line.startswith("ack ")]
        if acked:
            acked_total = max(acked_total, acked[-1])
        errors = [p for p in check_directory(data) if p.severity == "error"]
        assert not errors, errors
        with hyena.open(data) as db:
            store = read_rows(db)
            columns = {c.name: c.id for c in db.columns}
            present = count_batches(store, upper=next_batch + 10_000)
            assert present >= acked_total + 1, (present, acked_total)
            assert store == {s: r for s, r in expected_rows(present, columns).items() if r}
        next_batch = present
    print("batches", next_batch, "acked", acked_total)
    assert next_batch > 100, "the writer made too little progress for the test to mean much"
