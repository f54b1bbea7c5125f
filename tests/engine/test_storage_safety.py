"""Full disks, damaged files, a second writer and small descriptor limits: clear errors, an
intact store, and no manual repair afterwards."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hyena
from hyena.errors import CorruptFileError, DiskFullError, LockedError
from hyena.storage.fs import FileOps
from hyena.testing.engine_model import read_rows

ROOT = Path(__file__).resolve().parents[2]


def _fill(db, source: int, start: int, rows: int) -> None:
    ts = np.arange(start, start + rows, dtype=np.uint64)
    db.append(source, ts, {"v": ts.astype(np.uint32), "s": [f"row {i}" for i in ts]})


class FailingAllocation(FileOps):
    """A disk that fills up after `budget` allocations."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def allocate(self, fd, offset, length, path):
        self.budget -= 1
        if self.budget < 0:
            raise DiskFullError("no space left while trying to allocate disk space", path=path)
        super().allocate(fd, offset, length, path)


def test_injected_full_disk_leaves_store_unchanged(fast_tmp_path):
    fs = FailingAllocation(budget=10_000)
    db = hyena.Database(fast_tmp_path / "db", hyena.Config(block_size=4096, preallocate="always"),
                        fs=fs)
    db.add_column("v", "u32")
    db.add_column("s", "string")
    _fill(db, 1, 0, 3000)
    db.flush()
    before = read_rows(db)
    fs.budget = 3  # a batch spanning several new partitions runs out part way
    with pytest.raises(DiskFullError, match="no space left"):
        _fill(db, 1, 3000, 3000)
    assert read_rows(db) == before
    fs.budget = 10_000  # space freed: the same batch goes in whole
    _fill(db, 1, 3000, 3000)
    db.close()
    with hyena.open(fast_tmp_path / "db") as reopened:
        rows = read_rows(reopened)[1]
        assert [r[0] for r in rows] == list(range(6000))


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def test_real_full_disk_is_an_error_not_sigbus(tmp_path):
    mount = tmp_path / "small"
    if not _mount_tmpfs(mount, "1m"):
        pytest.skip("cannot mount a small tmpfs here (needs root); the injected test covers it")
    try:
        ballast = mount / "ballast"
        ballast.write_bytes(b"\0" * 96 * 1024)
        db = hyena.open(mount / "db", block_size=8192)
        db.add_column("v", "u32")
        db.add_column("s", "string")
        flushed, start = None, 0
        with pytest.raises(DiskFullError):
            while True:
                _fill(db, 1, start, 500)
                start += 500
                db.flush()
                flushed = start
        assert flushed, "the disk filled before anything was flushed"
        rows = [r[0] for r in read_rows(db).get(1, [])]
        assert rows == list(range(len(rows))) and len(rows) >= flushed
        try:
            db.close()
        except DiskFullError:
            pass  # the final flush may not fit either; the last commit stands
        with hyena.open(mount / "db") as reopened:  # restart on the still-full disk
            rows = [r[0] for r in read_rows(reopened).get(1, [])]
            assert rows == list(range(len(rows))) and len(rows) >= flushed
        ballast.unlink()
        with hyena.open(mount / "db") as reopened:  # space freed: appends work again
            n = len(read_rows(reopened).get(1, []))
            _fill(reopened, 1, n, 100)
            reopened.flush()
            assert len(read_rows(reopened)[1]) == n + 100
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_second_writer_gets_a_clear_error(fast_tmp_path):
    with hyena.open(fast_tmp_path / "db"):
        with pytest.raises(LockedError, match="open for writing by another process"):
            hyena.open(fast_tmp_path / "db")
        other = subprocess.run(
            [sys.executable, "-c", f"import hyena; hyena.open({str(fast_tmp_path / 'db')!r})"],
            capture_output=True, text=True, cwd=ROOT)
        assert other.returncode != 0
        assert "LockedError" in other.stderr and f"holder_pid={os.getpid()}" in other.stderr
    with hyena.open(fast_tmp_path / "db"):  # released on close
        pass


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def sealed_store(fast_tmp_path):
    path = fast_tmp_path / "db"
    with hyena.open(path, block_size=4096) as db:
        db.add_column("v", "u32")
        db.add_column("s", "string")
        _fill(db, 1, 0, 2000)
    return path


@pytest.mark.parametrize("target", ["catalog.data", "1/pgmeta.data"])
def test_corrupt_metadata_is_reported_by_path(sealed_store, target):
    _flip_byte(sealed_store / target, 30)
    with pytest.raises(CorruptFileError, match="checksum mismatch") as info:
        hyena.open(sealed_store)
    assert info.value.path == str(sealed_store / target)


def test_truncated_metadata_is_reported(sealed_store):
    path = sealed_store / "catalog.data"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CorruptFileError, match="length mismatch"):
        hyena.open(sealed_store)


def test_corrupt_partition_meta_is_reported_when_read(sealed_store):
    meta = sorted(sealed_store.glob("1/*/*/*/*/meta.data"))[0]
    _flip_byte(meta, 40)
    with hyena.open(sealed_store) as db:
        with pytest.raises(CorruptFileError) as info:
            read_rows(db)
        assert info.value.path == str(meta)


def test_low_descriptor_limit_reads_many_partitions(fast_tmp_path):
    """With ulimit -n 64 and hundreds of block files, scans keep working: maps are an LRU."""
    script = textwrap.dedent(f"""
        import resource, os, numpy as np, hyena
        from hyena.testing.engine_model import read_rows
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        with hyena.open({str(fast_tmp_path / 'db')!r}, block_size=4096) as db:
            db.add_column("v", "u32")
            db.add_column("s", "string")
            ts = np.arange(60_000, dtype=np.uint64)
            db.append(1, ts, {{"v": ts.astype(np.uint32), "s": ["x"] * len(ts)}})
            assert len(db.partitions()) > 100, len(db.partitions())
            for _ in range(2):
                rows = read_rows(db)[1]
                assert [r[2] for r in rows] == list(range(60_000))
            assert len(db.maps) <= db.maps.limit <= 16, (len(db.maps), db.maps.limit)
            assert len(os.listdir("/proc/self/fd")) < 64
        print("ok", db.maps.maps_opened)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
