"""The scan path's fast paths against plain numpy: row selection, small IN sets, counting,
string gathers, the map cache's shared views and page release, cached partition snapshots,
streamed scans whose finished partitions give their pages back."""
from __future__ import annotations

import tempfile

import numpy as np
import pyarrow as pa
import pytest

import hyena
from hyena import memory
from hyena.kernels.compare import in_dense, in_select
from hyena.kernels.dictionary import bincount_all, gather_coded, lookup_select
from hyena.kernels.gather import gather_strings, selected_rows
from hyena.storage.mapcache import MapCache
from tests.support import FAST_TMP


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 64, 1001])
@pytest.mark.parametrize("share", [0.0, 0.02, 0.5, 1.0])
def test_selected_rows_matches_flatnonzero(n, share):
    rng = np.random.default_rng(n)
    mask = (rng.random(n) < share).astype(np.uint8)
    out = np.empty(max(n, 1), dtype=np.int64)
    for limit in sorted({0, 1, 3, n // 2, n, n + 5}):
        found = selected_rows(mask, 17, limit, out)
        expected = (np.flatnonzero(mask) + 17)[:limit]
        assert found == len(expected)
        assert (out[:found] == expected).all()


@pytest.mark.parametrize("members", [1, 2, 5, 8, 9, 30])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint32, np.int64, np.uint64])
def test_in_dense_matches_isin(members, dtype):
    rng = np.random.default_rng(members)
    info = np.iinfo(dtype)
    values = rng.integers(max(info.min, -40), min(info.max, 40), 700).astype(dtype)
    values[:3] = [info.min, info.max, 0]
    chosen = np.unique(np.concatenate([values[rng.integers(0, 700, members)],
                                       [info.max]]))[:members].astype(dtype)
    for start in (0, 5):
        expected = np.isin(values[start:], chosen).astype(np.uint8)
        mask = np.full(700 - start, 9, dtype=np.uint8)
        in_dense(values, chosen, mask, 0, start)
        assert (mask == expected).all()
        prior = (rng.random(700 - start) < 0.5).astype(np.uint8)
        mask = prior.copy()
        in_dense(values, chosen, mask, 1, start)
        assert (mask == (prior & expected)).all()


@pytest.mark.parametrize("members", [1, 3, 8])
@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 1000])
def test_in_select_matches_flatnonzero(members, n):
    rng = np.random.default_rng(n + members)
    values = rng.integers(0, 30, n).astype(np.uint32)
    chosen = np.unique(rng.integers(0, 30, members)).astype(np.uint32)
    out = np.empty(max(n, 1), dtype=np.int64)
    for start in sorted({0, min(n, 5), n}):
        hits = np.flatnonzero(np.isin(values, chosen))
        hits = hits[hits >= start]
        for limit in sorted({1, 2, len(hits), n + 1}):
            found = in_select(values, chosen, start, limit, out)
            assert found == min(limit, len(hits))
            assert (out[:found] == hits[:found]).all()


@pytest.mark.parametrize("width", [np.uint8, np.uint16])
@pytest.mark.parametrize("n", [0, 1, 9, 1000])
def test_lookup_select_matches_flatnonzero(width, n):
    rng = np.random.default_rng(n)
    codes = rng.integers(0, 5, n).astype(width)
    verdict = np.array([1, 0, 0, 1, 0], dtype=np.uint8)
    out = np.empty(max(n, 1), dtype=np.int64)
    for start in sorted({0, min(n, 3)}):
        hits = np.flatnonzero(verdict[codes])
        hits = hits[hits >= start]
        for limit in sorted({1, 4, len(hits), n + 1}):
            found = lookup_select(codes, verdict, start, limit, out)
            assert found == min(limit, len(hits))
            assert (out[:found] == hits[:found]).all()


def test_gather_coded_reads_entries_by_code():
    entries = ["INVITE", "", "BYÉ"]
    pool = np.frombuffer("".join(entries).encode(), dtype=np.uint8)
    offsets = np.cumsum([0] + [len(e.encode()) for e in entries]).astype(np.uint32)
    codes = np.array([2, 0, 1, 0, 2], dtype=np.uint16)
    out_offsets, out_pool = gather_coded(codes, offsets, pool, np.array([4, -1, 1, 2, 0]))
    got = [bytes(out_pool[out_offsets[i]:out_offsets[i + 1]]).decode() for i in range(5)]
    assert got == ["BYÉ", "", "INVITE", "", "BYÉ"]


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 1000, 1003])
def test_bincount_all_matches_numpy(n):
    codes = np.random.default_rng(n).integers(0, 7, n).astype(np.uint8)
    assert (bincount_all(codes, 7) == np.bincount(codes, minlength=7)).all()
    assert (bincount_all(codes.astype(np.uint16), 7) == np.bincount(codes, minlength=7)).all()


def test_gather_strings_int32_offsets():
    words = ["", "a", "héllo", "x" * 300, "", "end"]
    data = "".join(words).encode()
    offsets = np.cumsum([0] + [len(w.encode()) for w in words]).astype(np.uint32)
    pool = np.frombuffer(data, dtype=np.uint8)
    positions = np.array([5, -1, 3, 0, 2, 2], dtype=np.int64)
    out_offsets, out_pool = gather_strings(offsets, pool, positions, np.int32)
    assert out_offsets.dtype == np.int32
    got = [bytes(out_pool[out_offsets[i]:out_offsets[i + 1]]).decode()
           for i in range(len(positions))]
    assert got == ["end", "", "x" * 300, "", "héllo", "héllo"]


def _file(tmp_path, payload: bytes):
    path = tmp_path / "block.data"
    path.write_bytes(b"\0" * 64 + payload)
    return path


def test_map_cache_shares_views_and_releases_pages(tmp_path):
    path = _file(tmp_path, np.arange(5000, dtype=np.uint64).tobytes())
    maps = MapCache(4)
    first = maps.view(path, np.uint64, 5000)
    again = maps.view(str(path), np.uint64, 5000)
    assert again is first  # Path and str name the same map
    prefix = maps.view(path, np.uint64, 10)
    assert prefix.base is first or np.shares_memory(prefix, first)
    assert (prefix == np.arange(10)).all()
    assert maps.maps_opened == 1
    assert maps.release_under(tmp_path) == 1
    assert (first == np.arange(5000, dtype=np.uint64)).all()  # pages fault back in
    maps.evict(path)
    assert (first == np.arange(5000, dtype=np.uint64)).all()  # the view keeps its map
    assert len(maps) == 0 and maps.view(path, np.uint64, 3).tolist() == [0, 1, 2]


def test_map_cache_prefetch_asks_once_per_map(tmp_path):
    path = _file(tmp_path, bytes(3 * 4096))
    maps = MapCache(4)
    assert not maps.prefetch(path)  # not mapped: nothing to advise
    maps.view(path, np.uint8, 10)
    assert maps.wants_prefetch(str(path))
    assert maps.prefetch(path, np.array([0, 1, 5, 900]))  # pages past the end are skipped
    assert not maps.wants_prefetch(str(path)) and not maps.prefetch(path)
    maps.evict(path)
    assert maps.read_ahead(path) and not maps.prefetch(path)  # a new map asks again
    assert maps.first_time(path, "step") and not maps.first_time(path, "step")
    assert maps.first_time(path, "other")


def test_page_runs():
    from hyena.storage.mapcache import _runs
    assert _runs(np.array([], dtype=np.int64)) == []
    assert _runs(np.array([3])) == [(3, 3)]
    assert _runs(np.array([0, 1, 2, 5, 7, 8])) == [(0, 2), (5, 5), (7, 8)]


def test_memo_is_dropped_with_its_map(tmp_path):
    path = _file(tmp_path, bytes(64))
    maps = MapCache(1)
    built = []
    make = lambda: built.append(1) or maps.view(path, np.uint8, 8)  # noqa: E731
    first = maps.memo(path, "k", make)
    assert maps.memo(path, "k", make) is first and len(built) == 1
    maps.evict(path)
    maps.memo(path, "k", make)
    assert len(built) == 2


def test_map_cache_limit_drops_cached_views(tmp_path):
    maps = MapCache(2)
    paths = []
    for k in range(4):
        p = tmp_path / f"f{k}"
        p.write_bytes(b"\0" * 64 + np.full(100, k, np.uint32).tobytes())
        paths.append(p)
    views = [maps.view(p, np.uint32, 100) for p in paths]
    assert len(maps) == 2 and maps.maps_opened == 4
    assert [int(v[0]) for v in views] == [0, 1, 2, 3]
    maps.evict_under(tmp_path)
    assert len(maps) == 0


@pytest.fixture()
def db():
    """Sealed partitions of 4 KiB blocks: a dense string, a string to index, a sparse int."""
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as tmp:
        db = hyena.open(f"{tmp}/db", block_size=4096)
        db.add_column("method", "string")
        db.add_column("call_id", "string")
        db.add_column("code", "u16_sparse")
        n = 3000
        rng = np.random.default_rng(1)
        db.append(1, np.arange(n, dtype=np.uint64) * 10, {
            "method": [["INVITE", "BYE", "ACK"][k] for k in rng.integers(0, 3, n)],
            "call_id": [f"{k:08x}@example" for k in rng.integers(0, 500, n)],
            "code": [None if k % 3 else int(k % 600) for k in range(n)],
        })
        db.flush()
        yield db
        db.close()


def test_sealed_snapshot_is_cached_until_an_index_appears(db):
    sealed = [p for p in db.groups[1].partitions if p.sealed]
    assert len(sealed) > 3
    first = sealed[0].snapshot()
    assert sealed[0].snapshot() is first  # reused by every scan
    cid = db.column("call_id").id
    assert not first.columns[cid].bloom
    plain = db.scan(filters=[("call_id", "==", "000001f3@example")])
    db.add_column_index("call_id")
    fresh = sealed[0].snapshot()
    assert fresh is not first and fresh.columns[cid].bloom
    assert db.scan(filters=[("call_id", "==", "000001f3@example")]).equals(plain)
    head = db.groups[1].partitions[-1]
    if not head.sealed:
        assert head.snapshot() is not head.snapshot()  # the head changes: never cached


def test_streamed_chunks_stay_valid_after_their_pages_are_released(db):
    whole = db.scan()
    released = []
    original = db.maps.release_under
    db.maps.release_under = lambda d: released.append(d) or original(d)
    chunks = list(db.scan_iter(row_limit=170))
    assert released  # finished partitions were given back
    assert len(chunks) > 5
    assert pa.concat_tables(chunks).equals(whole)  # every chunk still reads its rows


def test_allocator_tuning_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("HYENA_MALLOC_TUNING", "0")
    assert memory._tune() is False


@pytest.mark.parametrize("filters", [
    [("method", "==", "BYE")],  # a dictionary lookup straight to rows (sealed partitions)
    [("method", "in", ["ACK", "INVITE"])],
    [("ts", "in", [0, 10, 20_000, 29_990, 5])],  # IN of a few integers straight to rows
    [("ts", "in", list(range(0, 30_000, 1000)))],  # more than 8: the mask path
])
def test_direct_row_selection_streams_like_the_mask_path(db, filters):
    whole = db.scan(filters=filters)
    expected = [r for r in db.scan().to_pylist()
                if _passes(r, filters[0])]
    assert whole.to_pylist() == expected
    for limit in (1, 37, 1000):
        chunks = list(db.scan_iter(row_limit=limit, filters=filters))
        assert pa.concat_tables(chunks).equals(whole) if chunks else whole.num_rows == 0
        assert db.count(filters=filters) == whole.num_rows


def _passes(row: dict, flt: tuple) -> bool:
    column, op, value = flt
    return row[column] == value if op == "==" else row[column] in value


def test_waves_of_cold_partitions_scan_like_warm_ones():
    """Enough partitions for several waves; fresh maps (as after a restart) take the
    read-ahead paths (selections gathered after their wave, projections read ahead), warm
    ones the direct path: both give what filtering every row gives."""
    import pyarrow.compute as pc
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as tmp:
        rng = np.random.default_rng(5)
        n = 40 * 512
        db = hyena.open(f"{tmp}/db", block_size=4096)
        db.add_column("user", "string")
        db.add_column("ip", "u32")
        db.append(1, np.arange(n, dtype=np.uint64), {
            "user": [f"u{k}" for k in rng.integers(0, 40, n)],
            "ip": rng.integers(0, 50, n).astype(np.uint32)})
        db.close()
        filters = [[("user", "==", "u7")], [("ip", "in", [3, 9])], [("user", "contains", "1")]]
        for _ in range(2):  # the first pass finds every map fresh, the second warm
            db = hyena.open(f"{tmp}/db", block_size=4096)
            assert len(db.partitions()) > 32
            got = [[db.scan(filters=f) for f in filters] for _ in range(2)]
            everything = db.scan()
            keep = [pc.equal(everything["user"], "u7"),
                    pc.is_in(everything["ip"], pa.array([3, 9], pa.uint32())),
                    pc.match_substring(everything["user"], "1")]
            for results in got:
                for result, mask in zip(results, keep):
                    assert result.equals(everything.filter(mask))
            db.close()


def test_small_gathered_chunks_join_into_one_arrow_chunk(db):
    from hyena.engine.scan.gather import ColumnChunk
    from hyena.engine.scan.result import _join
    pool = np.frombuffer(b"xxabcdefg", dtype=np.uint8)
    a = ColumnChunk(pool, np.array([2, 3, 5], dtype=np.int32), None)  # "a", "bc"
    b = ColumnChunk(np.frombuffer("hé".encode(), dtype=np.uint8), np.array([0, 3], np.int32),
                    np.array([False]))
    joined = _join([a, b])
    assert joined.offsets.tolist() == [0, 1, 3, 6] and bytes(joined.values) == "abché".encode()
    assert joined.valid.tolist() == [True, True, False]
    table = db.scan(filters=[("method", "==", "BYE")], columns=["ts", "method", "code"])
    assert table.num_rows > 100
    assert all(col.num_chunks == 1 for col in table.columns)  # one per column, not per partition
    assert table.to_pylist() == [r for r in db.scan(columns=["ts", "method", "code"]).to_pylist()
                                 if r["method"] == "BYE"]
