"""Bloom indexes never change a result, and do skip partitions that cannot match."""
from __future__ import annotations

import numpy as np
import pytest

import hyena
from hyena.engine.scan.evaluate import live_groups

ROWS = 20_000


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    """The same data twice: without and with bloom indexes (added half way)."""
    rng = np.random.default_rng(7)
    call_ids = [f"{rng.integers(0, 2**63):016x}@sip.example.com" for _ in range(ROWS)]
    users = [["alice", "bob", "carol", "dave", "ünïcode", ""][k] for k in rng.integers(0, 6, ROWS)]
    opt = [None if k % 3 else f"tag-{k}" for k in range(ROWS)]
    out = []
    for indexed in (False, True):
        db = hyena.open(tmp_path_factory.mktemp("bloom") / "db", block_size=8192)
        db.add_column("call_id", "string")
        db.add_column("user", "string")
        db.add_column("opt", "string_sparse")
        half = ROWS // 2
        for lo, hi in ((0, half), (half, ROWS)):
            db.append(1, np.arange(lo, hi, dtype=np.uint64),
                      {"call_id": call_ids[lo:hi], "user": users[lo:hi], "opt": opt[lo:hi]})
            if indexed and lo == 0:
                for name in ("call_id", "user", "opt"):
                    db.add_column_index(name)
        db.flush()
        out.append(db)
    yield out, call_ids
    for db in out:
        db.close()


QUERIES = [
    lambda ids: [("call_id", "==", ids[123])],
    lambda ids: [("call_id", "==", ids[-1])],  # in the head partition (no bloom there)
    lambda ids: [("call_id", "==", "absent@nowhere")],
    lambda ids: [("call_id", "in", [ids[5], ids[15000], "nope"])],
    lambda ids: [("call_id", "contains", ids[777][3:12])],
    lambda ids: [("call_id", "starts_with", ids[9000][:10])],
    lambda ids: [("call_id", "ends_with", ids[42][-20:])],
    lambda ids: [("user", "contains", "ïc")],
    lambda ids: [("user", "==", "")],
    lambda ids: [("user", "contains", "zzz")],
    lambda ids: [("opt", "==", "tag-300")],
    lambda ids: [("opt", "contains", "ag-1999")],
    lambda ids: [[("call_id", "==", ids[1])], [("user", "==", "bob")]],
]


@pytest.mark.parametrize("query", range(len(QUERIES)))
def test_index_never_changes_results(dbs, query):
    (plain, indexed), ids = dbs
    filters = QUERIES[query](ids)
    assert indexed.scan(filters=filters).equals(plain.scan(filters=filters))
    assert indexed.count(filters=filters) == plain.count(filters=filters)


def test_equality_skips_partitions(dbs):
    (plain, indexed), ids = dbs
    spec = indexed._spec({"filters": [("call_id", "==", ids[123])]})
    parts = indexed.snapshot()
    sealed = [p for p in parts if p.sealed]
    assert len(sealed) > 10 and all(p.columns[2].bloom for p in sealed)
    live = [p for p in sealed if live_groups(p, spec, indexed.maps) != []]
    assert len(live) <= 2  # the partition holding it, and at most a false positive
    absent = indexed._spec({"filters": [("call_id", "==", "absent@nowhere")]})
    assert sum(live_groups(p, absent, indexed.maps) != [] for p in sealed) <= 1
    unindexed = plain._spec({"filters": [("call_id", "==", ids[123])]})
    assert all(live_groups(p, unindexed, plain.maps) != [] for p in plain.snapshot())
