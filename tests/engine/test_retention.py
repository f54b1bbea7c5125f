"""Dropping whole partitions (retention) and reading one partition's rows (exports)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import hyena
from hyena.engine.check import check_directory
from hyena.errors import InvalidScanError, StorageError
from hyena.storage.fs import FileOps
from hyena.testing.engine_model import read_rows


def fill(db, source: int, start: int, rows: int) -> None:
    ts = np.arange(start, start + rows, dtype=np.uint64)
    db.append(source, ts, {"v": ts.astype(np.uint32), "s": [f"r{t}" for t in ts]})


def open_filled(path):
    database = hyena.open(path, block_size=4096)
    database.add_column("v", "u32")
    database.add_column("s", "string")
    fill(database, 1, 0, 3000)
    fill(database, 2, 0, 100)
    return database


@pytest.fixture
def db(fast_tmp_path):
    database = open_filled(fast_tmp_path / "db")
    yield database
    database.close()


def test_drop_removes_partitions_durably(fast_tmp_path):
    db = open_filled(fast_tmp_path / "db")
    parts = db.partitions(1)
    assert len(parts) > 4
    victims = [p.id for p in parts[:3]]
    dropped_rows = sum(p.rows for p in parts[:3])
    assert db.drop_partitions(victims + [parts[-1].id]) == 4  # the open head too
    remaining = [r[2] for r in read_rows(db)[1]]
    assert remaining == list(range(dropped_rows, 3000 - parts[-1].rows))
    assert not any((fast_tmp_path / "db" / p.path).exists() for p in parts[:3] + [parts[-1]])
    fill(db, 1, 5000, 10)  # a new head after dropping the old one
    db.close()
    assert [p for p in check_directory(fast_tmp_path / "db") if p.severity == "error"] == []
    with hyena.open(fast_tmp_path / "db") as reopened:
        values = [r[2] for r in read_rows(reopened)[1]]
        assert values == remaining + list(range(5000, 5010))
        assert reopened.count(sources=[2]) == 100


class FailingCatalog(FileOps):
    fail = False

    def write_file(self, path, data):
        if self.fail and path.name.startswith("catalog"):
            raise StorageError("injected crash before the commit", path=path)
        super().write_file(path, data)


def test_crash_between_listing_and_commit_still_opens(fast_tmp_path):
    fs = FailingCatalog()
    db = hyena.Database(fast_tmp_path / "db", hyena.Config(block_size=4096), fs=fs)
    db.add_column("v", "u32")
    db.add_column("s", "string")
    fill(db, 1, 0, 3000)
    db.flush()
    parts = db.partitions(1)
    fs.fail = True
    with pytest.raises(StorageError, match="injected"):
        db.drop_partitions([parts[0].id])
    copy = fast_tmp_path / "copy"
    shutil.copytree(fast_tmp_path / "db", copy, ignore=shutil.ignore_patterns("LOCK"))
    with hyena.open(copy) as reopened:
        values = [r[2] for r in read_rows(reopened)[1]]
        assert values in (list(range(3000)), list(range(parts[0].rows, 3000)))
    fs.fail = False
    db.close()


def test_read_partition_returns_row_ranges(db):
    part = db.partitions(1)[1]
    table = db.read_partition(part.id, 5, 15, columns=["ts", "v", "s"])
    first = db.partitions(1)[0].rows
    assert table.column("v").to_pylist() == list(range(first + 5, first + 15))
    assert db.read_partition(str(part.id)).num_rows == part.rows
    with pytest.raises(InvalidScanError, match="no such partition"):
        db.read_partition("00000000-0000-0000-0000-000000000000")
