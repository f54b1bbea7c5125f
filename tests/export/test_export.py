"""DuckDB reads the exported files (through metadata.json and by glob) and gets exactly the
rows and values a hyena scan gives; exports resume without repeating or losing rows;
compaction and retention keep every reader's view whole."""
from __future__ import annotations

import ipaddress
import json
from datetime import datetime, timezone

import duckdb
import pytest

from hepserver.export.catalog import TypeCatalog
from hepserver.export.compaction import compact
from hepserver.export.exporter import Exporter, ExportSettings
from hepserver.export.retention import RetentionPolicy, apply_retention
from hyena import int128_to_pylist
from tests.export.data import T0, fill, open_capture_db

COLUMNS = ["timestamp", "src_ip", "src_ip_v4", "dst_ip", "src_port", "payload", "call_id",
           "sip_method", "from_user", "correlation_id", "node_name", "capture_id",
           "hep_version"]


def ip_text(value: int) -> str:
    address = ipaddress.IPv6Address(value)
    return str(address.ipv4_mapped or address)


def hyena_rows(db, hep_type: int) -> list[tuple]:
    """What an export of this type must contain, computed from a plain hyena scan."""
    table = db.scan(sources=[hep_type])
    src = int128_to_pylist(table.column("src_ip"), signed=False)
    dst = int128_to_pylist(table.column("dst_ip"), signed=False)
    out = []
    for i, row in enumerate(table.to_pylist()):
        mapped = ipaddress.IPv6Address(src[i]).ipv4_mapped
        out.append((datetime.fromtimestamp(row["ts"] / 1e6, tz=timezone.utc), ip_text(src[i]),
                    int(mapped) if mapped else None, ip_text(dst[i]), row["src_port"],
                    row["payload"], row["call_id"], row["sip_method"], row["from_user"],
                    row["correlation_id"], row["node_name"], row["capture_id"],
                    row["hep_version"]))
    return sorted(out, key=lambda r: (r[0], r[5]))


def listed_files(root, writer: str, hep_type: int) -> list[str]:
    catalog = TypeCatalog.open(root, writer, hep_type)
    return [str(catalog.directory / f.path) for f in catalog.files]


def one(sql: str):
    return duckdb.connect().execute(sql).fetchone()[0]


def duck_rows(files: list[str]) -> list[tuple]:
    if not files:
        return []
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM read_parquet(?)", [files]).fetchall()
    return sorted(rows, key=lambda r: (r[0], r[5]))


@pytest.fixture
def env(fast_tmp_path):
    db = open_capture_db(fast_tmp_path / "hyena", block_size=65536)
    settings = ExportSettings(fast_tmp_path / "parquet", "node1")
    yield db, settings
    db.close()


def test_export_equals_hyena_for_every_type(env):
    db, settings = env
    fill(db, 12_000, seed=1)
    exporter = Exporter(db, settings)
    assert exporter.export() < 12_000  # sealed partitions only
    assert exporter.export(everything=True) > 0
    assert exporter.export(everything=True) == 0  # nothing twice
    for hep_type in (1, 5, 100):
        files = listed_files(settings.directory, "node1", hep_type)
        assert duck_rows(files) == hyena_rows(db, hep_type)
        glob = f"{settings.directory}/node1/dbs/hep-0/hep_{hep_type}-0/**/*.parquet"
        assert one(f"SELECT count(*) FROM read_parquet('{glob}')") == \
            db.count(sources=[hep_type])
    meta = json.loads((settings.directory / "node1/dbs/hep-0/hep_1-0/metadata.json").read_text())
    assert meta["row_count"] == db.count(sources=[1]) == sum(f["row_count"] for f in meta["files"])
    assert {f["table"] for f in meta["files"]} == {"hep_proto_1_call", "hep_proto_1_registration",
                                                   "hep_proto_1_default"}
    first = meta["files"][0]
    assert first["path"].startswith("2025-11-24/16-") and first["chunk_time"] % 600e9 == 0
    sip_files = listed_files(settings.directory, "node1", 1)
    rcinfo = one(f"SELECT rcinfo FROM read_parquet('{sip_files[0]}') LIMIT 1")
    assert json.loads(rcinfo)["payloadType"] == 1


def test_rows_appended_after_an_export_are_exported_once(env):
    db, settings = env
    exporter = Exporter(db, settings)
    fill(db, 3000, seed=2)
    exporter.export(everything=True)
    fill(db, 3000, seed=3, start_us=T0 + 3000 * 50_000)
    exporter.export(everything=True)
    files = listed_files(settings.directory, "node1", 1)
    assert duck_rows(files) == hyena_rows(db, 1)


def test_compaction_merges_hours_without_changing_rows(env):
    db, settings = env
    fill(db, 8000, seed=4, types=(1,))  # 400 s per 8000 rows: many 10-minute windows
    fill(db, 8000, seed=5, start_us=T0 + 8000 * 50_000 * 9, types=(1,))
    Exporter(db, settings).export(everything=True)
    catalog = TypeCatalog.open(settings.directory, "node1", 1)
    before = duck_rows([str(catalog.directory / f.path) for f in catalog.files])
    small = len(catalog.files)
    merged = compact(catalog, settings, settle=0, now_ns=(T0 + 10**12) * 1000)
    assert merged > 0
    catalog = TypeCatalog.open(settings.directory, "node1", 1)
    assert len(catalog.files) < small and any(f.level == "1h" for f in catalog.files)
    assert any(f.path.split("/")[-1].startswith("c_") for f in catalog.files)
    assert duck_rows([str(catalog.directory / f.path) for f in catalog.files]) == before
    on_disk = sorted(str(p) for p in catalog.directory.rglob("*.parquet"))
    assert on_disk == sorted(str(catalog.directory / f.path) for f in catalog.files)


def test_retention_drops_old_partitions_and_files(env):
    """Whole partitions and whole files go, those whose newest row is older than the cutoff."""
    db, settings = env
    fill(db, 20_000, seed=6, types=(5,))  # several partitions, all old
    fill(db, 4000, seed=7, start_us=T0 + 10 * 86_400 * 1_000_000, types=(5,))
    Exporter(db, settings).export(everything=True)
    catalogs = {5: TypeCatalog.open(settings.directory, "node1", 5)}
    before = db.partitions(5)
    now = T0 + 11 * 86_400 * 1_000_000
    cutoff = now - 5 * 86_400 * 1_000_000
    result = apply_retention(db, catalogs, RetentionPolicy(retention_days=5), now_us=now)
    expected_gone = [p.id for p in before if p.max_ts < cutoff]
    assert result.partitions == len(expected_gone) > 0 and result.files > 0
    assert {p.id for p in db.partitions(5)} == {p.id for p in before} - set(expected_gone)
    catalog = TypeCatalog.open(settings.directory, "node1", 5)
    assert catalog.files and all(f.max_time >= cutoff * 1000 for f in catalog.files)
    files = listed_files(settings.directory, "node1", 5)
    assert set(duck_rows(files)) <= set(hyena_rows(db, 5))
    assert sorted(str(p) for p in catalog.directory.rglob("*.parquet")) == sorted(files)


def test_hot_days_keep_unexported_partitions(env):
    db, settings = env
    fill(db, 20_000, seed=8, types=(100,))
    now = T0 + 3 * 86_400 * 1_000_000
    before = db.count()
    result = apply_retention(db, {}, RetentionPolicy(hot_days=1), now_us=now)
    assert result.partitions == 0 and db.count() == before  # nothing exported yet
    exporter = Exporter(db, settings)
    exporter.export()  # sealed ones
    catalogs = {100: TypeCatalog.open(settings.directory, "node1", 100)}
    result = apply_retention(db, catalogs, RetentionPolicy(hot_days=1), now_us=now)
    assert result.partitions > 0 and 0 < db.count() < before
    assert len(duck_rows(listed_files(settings.directory, "node1", 100))) >= before - db.count()
