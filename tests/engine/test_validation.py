"""Every invalid append raises a typed error naming what was wrong, and writes nothing."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import hyena
from hyena.errors import (ColumnExistsError, ColumnNameError, InvalidDataError,
                          UnknownColumnError)
from hyena.testing.engine_model import read_rows
from hyena.types import MAX_TIMESTAMP


@pytest.fixture
def db(fast_tmp_path):
    with hyena.open(fast_tmp_path / "db", block_size=4096) as database:
        database.add_column("u8", "u8")
        database.add_column("i16", "i16")
        database.add_column("name", "string")
        database.add_column("opt", "u32_sparse")
        database.add_column("big", "i128")
        database.add_column("note", "string_sparse")
        database.append(1, [10, 20], {"u8": [1, 2], "name": ["a", "b"]})
        yield database


BAD_APPENDS = [
    # (description, source, ts, columns, text expected in the message)
    ("empty ts", 1, [], {}, "at least one row"),
    ("negative ts", 1, [-1], {}, "out of range"),
    ("ts past the calendar", 1, [MAX_TIMESTAMP + 1], {}, "out of range"),
    ("float ts", 1, [1.5], {}, "integers"),
    ("source too large", 2**32, [1], {}, "source"),
    ("negative source", -1, [1], {}, "source"),
    ("unknown column", 1, [1], {"nope": [1]}, "no such column"),
    ("ts given as a column", 1, [1], {"ts": [1]}, "not as columns"),
    ("short column", 1, [1, 2], {"u8": [1]}, "length"),
    ("long column", 1, [1], {"u8": [1, 2]}, "length"),
    ("value too large", 1, [1], {"u8": [256]}, "out of range"),
    ("negative unsigned", 1, [1], {"u8": np.array([-1], np.int64)}, "out of range"),
    ("numpy value too large", 1, [1], {"i16": np.array([40000], np.int64)}, "out of range"),
    ("float values", 1, [1], {"u8": [1.0]}, "integers"),
    ("float array", 1, [1], {"u8": np.array([1.0])}, "integers"),
    ("bool values", 1, [1], {"u8": [True]}, "integers"),
    ("string for int", 1, [1], {"u8": ["1"]}, "integers"),
    ("null in dense", 1, [1, 2], {"u8": [1, None]}, "cannot hold nulls"),
    ("arrow null in dense", 1, [1], {"u8": pa.array([None], pa.uint8())}, "cannot hold nulls"),
    ("int for string", 1, [1], {"name": [5]}, "strings"),
    ("invalid utf-8", 1, [1], {"name": [b"\xff\xfe"]}, "UTF-8"),
    ("a bare string", 1, [1], {"name": "abc"}, "sequence"),
    ("int128 too large", 1, [1], {"big": [1 << 127]}, "out of range"),
    ("int128 too small", 1, [1], {"big": [-(1 << 127) - 1]}, "out of range"),
    ("sparse index not increasing", 1, [1, 2, 3], {"opt": hyena.Sparse([1, 2], [1, 1])},
     "strictly increasing"),
    ("sparse index past the rows", 1, [1, 2], {"opt": hyena.Sparse([1], [2])},
     "strictly increasing"),
    ("sparse index negative", 1, [1, 2], {"opt": hyena.Sparse([1], [-1])},
     "strictly increasing"),
    ("sparse lengths differ", 1, [1, 2], {"opt": hyena.Sparse([1, 2], [0])}, "differ"),
    ("Sparse for a dense column", 1, [1], {"u8": hyena.Sparse([1], [0])}, "dense column"),
    ("sparse value too large", 1, [1], {"opt": [2**32]}, "out of range"),
    ("2-D array", 1, [1], {"u8": np.zeros((1, 1), np.uint8)}, "1-D"),
]


@pytest.mark.parametrize("what,source,ts,columns,text", BAD_APPENDS,
                         ids=[case[0] for case in BAD_APPENDS])
def test_invalid_append_is_rejected_and_writes_nothing(db, what, source, ts, columns, text):
    before = read_rows(db)
    parts_before = db.partitions()
    with pytest.raises(InvalidDataError if what != "unknown column" else UnknownColumnError,
                       match=text):
        db.append(source, ts, columns)
    assert read_rows(db) == before
    assert db.partitions() == parts_before


def test_one_bad_column_rejects_the_whole_batch(db):
    before = read_rows(db)
    with pytest.raises(InvalidDataError, match="out of range"):
        db.append(1, list(range(5000)), {"u8": [1] * 5000, "i16": [0] * 4999 + [99999]})
    assert read_rows(db) == before
    db.flush()
    assert read_rows(db) == before


def test_error_message_names_column_and_values(db):
    with pytest.raises(InvalidDataError) as info:
        db.append(1, [1], {"i16": [70000]})
    assert "column=i16" in str(info.value) and "max=70000" in str(info.value)
    assert info.value.context["column"] == "i16"


def test_column_names_must_be_unique_and_nonempty(db):
    with pytest.raises(ColumnExistsError):
        db.add_column("u8", "u16")
    with pytest.raises(ColumnExistsError):
        db.add_column("ts", "u16")
    with pytest.raises(ColumnNameError):
        db.add_column("", "u16")
    with pytest.raises(ColumnNameError):
        db.add_column("a\nb", "u16")
    with pytest.raises(ValueError, match="unknown column type"):
        db.add_column("x", "float")


def test_closed_database_refuses_work(fast_tmp_path):
    database = hyena.open(fast_tmp_path / "db")
    database.close()
    with pytest.raises(hyena.errors.ClosedError):
        database.append(1, [1])
