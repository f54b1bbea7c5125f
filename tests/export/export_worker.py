"""Subprocess for the export crash test: append, export, compact, forever (until killed).

Usage: python -m tests.export.export_worker HYENA_DIR PARQUET_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

from hepserver.export.catalog import TypeCatalog
from hepserver.export.compaction import compact
from hepserver.export.exporter import Exporter, ExportSettings
from tests.export.data import T0, fill, open_capture_db

ROUND = 3000


def main() -> None:
    data, parquet = Path(sys.argv[1]), Path(sys.argv[2])
    db = open_capture_db(data, block_size=65536)
    settings = ExportSettings(parquet, "node1", row_group_rows=1000)
    exporter = Exporter(db, settings)
    round_ = db.count() // ROUND
    first = round_
    while True:
        fill(db, ROUND, seed=round_, start_us=T0 + round_ * ROUND * 300_000, types=(1, 5))
        exporter.export(everything=round_ % 2 == 0)
        for hep_type in db.sources:
            compact(TypeCatalog.open(parquet, "node1", hep_type), settings, settle=0,
                    now_ns=(T0 + 10**13) * 1000)
        print("round", round_, flush=True)
        if round_ == first:
            print("ready", flush=True)  # kernels and libraries loaded: kills now hit the loop
        round_ += 1


if __name__ == "__main__":
    main()
