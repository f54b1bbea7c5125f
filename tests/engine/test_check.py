"""hyena-check finds damage the engine would trip over, and passes a sound directory."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hyena
from hyena.engine.check import check_directory, main


@pytest.fixture
def store(fast_tmp_path) -> Path:
    path = fast_tmp_path / "db"
    with hyena.open(path, block_size=4096) as db:
        db.add_column("v", "i64")
        db.add_column("s", "string")
        db.add_column("opt", "u16_sparse")
        ts = np.arange(3000, dtype=np.uint64)
        db.append(3, ts, {"v": -ts.astype(np.int64), "s": [str(t) for t in ts],
                          "opt": hyena.Sparse(ts[::7].astype(np.uint16), ts[::7])})
    return path


def _sealed(store: Path) -> Path:
    return sorted(p.parent for p in store.glob("3/*/*/*/*/meta.data"))[0]


def _patch(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_sound_directory_has_no_problems(store, capsys):
    assert check_directory(store) == []
    assert main([str(store)]) == 0
    assert "0 error(s)" in capsys.readouterr().out


def test_locked_directory_is_refused_without_force(store):
    with hyena.open(store):
        assert main([str(store)]) == 2
        assert main([str(store), "--force"]) == 0


@pytest.mark.parametrize("damage,expected", [
    ("sparse_order", "sparse index not increasing"),
    ("zone", "zone map"),
    ("offsets", "string offsets"),
    ("utf8", "UTF-8"),
    ("header", "wrong magic"),
    ("missing", "No such file"),
])
def test_damage_is_reported(store, damage, expected, capsys):
    part = _sealed(store)
    cid = {"v": 2, "s": 3, "opt": 4}
    if damage == "sparse_order":
        _patch(part / f"block_{cid['opt']}.index", 64 + 4, (0).to_bytes(4, "little"))
    elif damage == "zone":
        _patch(part / f"block_{cid['v']}.data", 64, (10**12).to_bytes(8, "little", signed=True))
    elif damage == "offsets":
        _patch(part / f"block_{cid['s']}.data", 64 + 8, (10**6).to_bytes(4, "little"))
    elif damage == "utf8":
        _patch(part / f"block_{cid['s']}.pool", 64, b"\xff")
    elif damage == "header":
        _patch(part / f"block_{cid['v']}.data", 0, b"XXXX")
    elif damage == "missing":
        (part / f"block_{cid['s']}.pool").unlink()
    problems = check_directory(store)
    assert any(expected in p.message and p.severity == "error" for p in problems), problems
    assert main([str(store)]) == 1


def test_leftovers_are_notes(store):
    (store / "3" / "2020-1" / "01" / "01" / "00000000-0000-0000-0000-000000000000").mkdir(
        parents=True)
    (store / "catalog.data.tmp").write_bytes(b"x")
    problems = check_directory(store)
    assert problems and all(p.severity == "note" for p in problems)
    with hyena.open(store):
        pass
    assert check_directory(store) == []
