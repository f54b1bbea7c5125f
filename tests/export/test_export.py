"""DuckDB reads the exported files (through metadata.json and by glob) and gets exactly the
rows and values a hyena scan gives; exports resume without repeating or losing rows;
compaction and retention keep every reader's view whole."""
from __future__ import annotations

import ipaddress
import json
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pytest

from hepserver.export.catalog import TypeCatalog
from hepserver.export.compaction import compact
from hepserver.export.exporter import Exporter, ExportSettings, split_pieces
from hepserver.export.retention import RetentionPolicy, apply_retention
from hepserver.export.table import export_table
from hepserver.hep.decode import decode
from hepserver.hep.encode import encode_v3
from hepserver.ingest.rows import RowBuffer
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


def exported_files(root, hep_type: int) -> list[tuple]:
    catalog = TypeCatalog.open(root, "node1", hep_type)
    return [(f.path, f.table, f.row_count, f.min_time, f.max_time) for f in catalog.files]


@pytest.mark.parametrize("threads", [2, 3])
def test_exports_on_several_threads_write_the_same_files(env, fast_tmp_path, threads):
    """The next partition is read and converted on one thread while this one's files are
    written (on threads - 1 others): the files, their rows and their order are those of the
    one-thread export."""
    db, _ = env
    fill(db, 12_000, seed=9, types=(1, 1, 5))
    many = ExportSettings(fast_tmp_path / "many", "node1", threads=threads)
    single = ExportSettings(fast_tmp_path / "single", "node1", threads=1)
    assert Exporter(db, many).export(everything=True) == \
        Exporter(db, single).export(everything=True) == db.count()
    for hep_type in (1, 5):
        assert exported_files(many.directory, hep_type) == \
            exported_files(single.directory, hep_type)
        assert duck_rows(listed_files(many.directory, "node1", hep_type)) == \
            hyena_rows(db, hep_type)


def test_a_failed_read_leaves_what_was_committed_and_the_next_export_finishes(env,
                                                                            monkeypatch):
    """A partition that cannot be read (while the one before it is written) ends the export
    with the error; what was committed stays, nothing else is left, the next export goes on."""
    db, settings = env
    fill(db, 12_000, seed=10, types=(1,))
    assert len(db.partitions(1)) >= 3
    exporter = Exporter(db, settings)
    real = exporter.prepare
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise OSError("disk went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(exporter, "prepare", failing)
    with pytest.raises(OSError):
        exporter.export(everything=True)
    catalog = TypeCatalog.open(settings.directory, "node1", 1)
    first_two = sum(p.rows for p in db.partitions(1)[:2])  # written before the failure
    assert sum(catalog.partitions.values()) == sum(f.row_count for f in catalog.files) == \
        first_two
    on_disk = sorted(str(p) for p in catalog.directory.rglob("*")
                     if p.is_file() and p.name != "metadata.json")
    assert on_disk == sorted(listed_files(settings.directory, "node1", 1))
    Exporter(db, settings).export(everything=True)
    assert duck_rows(listed_files(settings.directory, "node1", 1)) == hyena_rows(db, 1)


def test_rcinfo_is_json_for_any_correlation_id(env):
    """Quotes, backslashes, control characters and non-ASCII text in a correlation id (and
    IPv6 addresses) still give rcinfo that parses to the row's own values."""
    db, settings = env
    fill(db, 400, seed=11, types=(5,))
    part = db.partitions(5)[0]
    rows = db.read_partition(part.id, 0, part.rows)
    odd = ['a"b', "back\\slash", "tab\there\nnew\x01line\x1f", "grüße €", "", None]
    ids = pa.array([odd[i % len(odd)] for i in range(rows.num_rows)], pa.string())
    rows = rows.set_column(rows.schema.get_field_index("correlation_id"), "correlation_id", ids)
    exported = export_table(rows, 5)
    src = int128_to_pylist(rows.column("src_ip"), signed=False)
    dst = int128_to_pylist(rows.column("dst_ip"), signed=False)
    for i, (text, row) in enumerate(zip(exported.column("rcinfo").to_pylist(),
                                        rows.to_pylist())):
        assert json.loads(text) == {
            "protocolFamily": row["ip_family"], "protocol": row["ip_proto"],
            "srcIp": ip_text(src[i]), "dstIp": ip_text(dst[i]), "srcPort": row["src_port"],
            "dstPort": row["dst_port"], "timeSeconds": row["ts"] // 1_000_000,
            "timeUseconds": row["ts"] % 1_000_000, "payloadType": 5,
            "captureId": row["capture_id"] or 0, "correlation_id": odd[i % len(odd)] or ""}
    assert any(":" in ip_text(v) for v in src)  # IPv6 rows were among them


def test_sip_rows_without_a_profile_go_to_the_default_table(env):
    """Type-1 packets whose payload is not SIP have no profile: the sealed partitions that hold
    them among SIP rows export them with hep_proto_1_default, each row once."""
    db, settings = env
    fill(db, 3000, seed=12, types=(1,))
    buffer = RowBuffer()
    for i in range(800):
        packet = decode(encode_v3(payload=b"\r\n\r\nnot sip %d" % i, proto_type=1,
                                  ts_us=T0 + 3000 * 50_000 + i, src_ip="10.1.2.3"), 0)
        buffer.add(packet, None)
    db.append_arrow(1, buffer.take())
    fill(db, 3000, seed=13, start_us=T0 + 3100 * 50_000, types=(1,))
    mixed = [p for p in db.partitions(1) if p.sealed and
             db.count(partitions=[p.id], filters=[("sip_profile", "!=", "x")]) < p.rows]
    assert mixed, "no sealed partition holds rows without a profile"
    Exporter(db, settings).export(everything=True)
    files = listed_files(settings.directory, "node1", 1)
    assert duck_rows(files) == hyena_rows(db, 1)
    default = [str(TypeCatalog.open(settings.directory, "node1", 1).directory / f.path)
               for f in TypeCatalog.open(settings.directory, "node1", 1).files
               if f.table == "hep_proto_1_default"]
    assert one(f"SELECT count(*) FROM read_parquet({default!r}) "
               "WHERE payload LIKE '%not sip%'") == 800


def test_sealed_sip_partitions_read_per_table_equal_a_split_read(env):
    """Whole sealed SIP partitions are read per Homer table by filtered scans: the pieces are
    exactly those a read of the partition split by table and window gives."""
    db, settings = env
    fill(db, 9000, seed=14, types=(1,), step_us=200_000)  # windows change inside partitions
    exporter = Exporter(db, settings)
    sealed = [p for p in db.partitions(1) if p.sealed]
    assert sealed
    for part in sealed:
        count, pieces = exporter.prepare(1, part)
        rows = db.read_partition(part.id, 0, part.rows)
        split = [(name, export_table(piece, 1))
                 for name, piece in split_pieces(rows, 1, time_column="ts")]
        assert count == part.rows and len(pieces) == len(split) > 3
        for (name, piece), (want_name, want) in zip(pieces, split):
            assert name == want_name and piece.equals(want)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_failed_write_leaves_a_consistent_export(env, monkeypatch, threads):
    """A file that cannot be written (on whichever thread) ends the export with the error:
    the catalog lists exactly the rows its watermarks say, no unlisted file stays, and the
    next export completes the rest, each row once."""
    import hepserver.export.exporter as exporter_module

    db, settings = env
    settings = ExportSettings(settings.directory, "node1", threads=threads)
    fill(db, 16_000, seed=15, types=(1,))
    real = exporter_module.write_parquet
    calls = []

    def failing(table, path, settings):
        calls.append(path)
        if len(calls) == 5:
            raise OSError("no space left on device")
        return real(table, path, settings)

    monkeypatch.setattr(exporter_module, "write_parquet", failing)
    with pytest.raises(OSError):
        Exporter(db, settings).export(everything=True)
    monkeypatch.setattr(exporter_module, "write_parquet", real)
    catalog = TypeCatalog.open(settings.directory, "node1", 1)
    assert sum(catalog.partitions.values()) == sum(f.row_count for f in catalog.files) > 0
    on_disk = sorted(str(p) for p in catalog.directory.rglob("*")
                     if p.is_file() and p.name != "metadata.json")
    assert on_disk == sorted(listed_files(settings.directory, "node1", 1))
    Exporter(db, settings).export(everything=True)
    assert duck_rows(listed_files(settings.directory, "node1", 1)) == hyena_rows(db, 1)


def test_watching_the_export_lag_never_touches_an_export_in_progress(env):
    """/metrics reads the export lag while the maintenance thread exports: reading must not
    clean up the .tmp files an export is writing (it once did, and exports failed)."""
    from hepserver.export.maintenance import Maintenance, MaintenanceSettings

    db, settings = env
    fill(db, 600, seed=9)
    work = Maintenance(db, MaintenanceSettings(settings.directory, "node1"))
    work.export(everything=True)
    fill(db, 600, seed=10, start_us=T0 + 600 * 50_000)
    directory = TypeCatalog.open(settings.directory, "node1", 1).directory
    in_progress = directory / "2025-11-24" / "16-10" / "0000009999.parquet.tmp"
    in_progress.parent.mkdir(parents=True, exist_ok=True)
    in_progress.write_bytes(b"being written")
    assert work.export_lag() > 0
    assert in_progress.exists()
    work.stop()
