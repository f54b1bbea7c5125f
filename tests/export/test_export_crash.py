"""kill -9 an exporter (appending, exporting, compacting in a loop) at random moments: after
every restart the exported files listed in metadata.json hold exactly the rows the watermarks
say, none twice, no unlisted file is left, and the next export carries on."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import duckdb

import hyena
from hepserver.export.catalog import TypeCatalog
from tests.support import kill_at_random

ROOT = Path(__file__).resolve().parents[2]
KILLS = 10


def check(data: Path, parquet: Path) -> int:
    exported = 0
    with hyena.open(data) as db:
        for hep_type in db.sources:
            catalog = TypeCatalog.open(parquet, "node1", hep_type)  # recovers, like the daemon
            files = [str(catalog.directory / f.path) for f in catalog.files]
            on_disk = sorted(str(p) for p in catalog.directory.rglob("*") if p.is_file()
                             and p.name != "metadata.json")
            assert on_disk == sorted(files), "unlisted or missing files"
            want = sum(catalog.partitions.values())
            if not files:
                assert want == 0
                continue
            count, distinct = duckdb.connect().execute(
                "SELECT count(*), count(DISTINCT payload) FROM read_parquet(?)",
                [files]).fetchone()
            assert count == distinct == want == sum(f.row_count for f in catalog.files)
            payloads = set(r[0] for r in duckdb.connect().execute(
                "SELECT payload FROM read_parquet(?)", [files]).fetchall())
            expected = set()
            for part in db.partitions(hep_type):
                done = catalog.partitions.get(str(part.id), 0)
                if done:
                    expected |= set(db.read_partition(part.id, 0, done,
                                                      columns=["payload"]).column(0).to_pylist())
            assert payloads == expected
            exported += count
    return exported


def test_kill_during_export_and_compaction(tmp_path):
    data, parquet = tmp_path / "hyena", tmp_path / "parquet"
    rng = random.Random(7)
    exported = 0
    for kill in range(KILLS):
        kill_at_random([sys.executable, "-m", "tests.export.export_worker", str(data),
                        str(parquet)], rng, cwd=ROOT, after_ready=(0.0, 1.2),
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        exported = check(data, parquet)
    assert exported > 10_000, "too little was exported for the test to mean much"
