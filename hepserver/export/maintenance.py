"""What the daemon does in the background besides capturing: export sealed partitions to
Parquet (and DuckLake), compact exported files, apply retention, each on its own period. The
same steps run on demand (`run_now`): the hyena server's DataCompaction request and the
`hepserver export|compact|retention` commands call them."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hepserver.counters import Counters
from hepserver.export.catalog import TypeCatalog
from hepserver.export.compaction import compact
from hepserver.export.ducklake import DuckLake
from hepserver.export.exporter import Exporter, ExportSettings, hep_types
from hepserver.export.objectstore import Mirror, ObjectStore, ObjectStoreSettings, UploadError
from hepserver.export.retention import RetentionPolicy, apply_retention

__all__ = ["MaintenanceSettings", "Maintenance"]

log = logging.getLogger("hepserver.maintenance")


@dataclass(frozen=True)
class MaintenanceSettings:
    parquet_dir: Path
    writer_id: str
    export: bool = True
    export_interval: float = 60.0
    compression: str = "zstd"
    compact_interval: float = 600.0
    compact_settle: float = 600.0  # an hour is merged this long after it ended
    ducklake: str | None = None  # sqlite:<file> or postgres:<conninfo>
    ducklake_data: str | Path | None = None  # a directory or s3://bucket/prefix
    retention_days: float | None = None
    hot_days: float | None = None
    retention_interval: float = 3600.0
    s3: ObjectStoreSettings | None = None  # mirror exports to an object store
    # rows of partitions still being written are exported at least this often (seconds), so
    # a quiet capture point does not keep its rows out of Parquet until a partition fills
    export_open_interval: float = 600.0


    @classmethod
    def from_config(cls, cfg, **overrides) -> "MaintenanceSettings":
        """The daemon's settings (hepserver.config.Config) for its maintenance steps."""
        s3 = None
        if cfg.s3_bucket:
            s3 = ObjectStoreSettings(cfg.s3_bucket, cfg.s3_prefix, cfg.s3_endpoint,
                                     delete_local=cfg.s3_delete_local)
        values = dict(parquet_dir=cfg.parquet_dir, writer_id=cfg.writer_id, export=cfg.export,
                      export_interval=cfg.export_interval, compression=cfg.compression,
                      compact_interval=cfg.compact_interval, ducklake=cfg.ducklake,
                      ducklake_data=cfg.lake_data_path, retention_days=cfg.retention_days,
                      hot_days=cfg.hot_days, s3=s3,
                      export_open_interval=cfg.export_open_interval)
        values.update(overrides)
        return cls(**values)


class Maintenance:
    def __init__(self, db, settings: MaintenanceSettings, counters: Counters | None = None) -> None:
        self.db = db
        self.settings = settings
        self.counters = counters or Counters()
        self.export_settings = ExportSettings(settings.parquet_dir, settings.writer_id,
                                              settings.compression)
        self.exporter = Exporter(db, self.export_settings)
        self.lake = None
        if settings.ducklake:
            if settings.ducklake_data is None:
                raise ValueError("a DuckLake needs a data path")
            data = settings.ducklake_data
            self.lake = DuckLake(settings.ducklake, data, settings.writer_id,
                                 s3_endpoint=settings.s3.endpoint_url if settings.s3 else None,
                                 counters=self.counters)
        self.mirror = Mirror(ObjectStore(settings.s3, self.counters), settings.writer_id) \
            if settings.s3 else None
        self._lock = threading.Lock()  # one maintenance step at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_export = 0.0
        self._open_exported_at = time.monotonic()

    # --- steps ------------------------------------------------------------------------------

    def export(self, everything: bool = False) -> int:
        """Export sealed partitions; with `everything`, or when `export_open_interval` has
        passed since that was last done, also the rows of partitions still being written."""
        with self._lock:
            if time.monotonic() - self._open_exported_at >= self.settings.export_open_interval:
                everything = True
            if everything:
                self._open_exported_at = time.monotonic()
            rows = 0
            if self.settings.export:
                rows = self.exporter.export(everything)
                self.counters.add("exported_rows", rows)
            if self.lake is not None:
                self.counters.add("ducklake_rows", self.lake.export(self.db, everything))
            self.last_export = time.time()
            self._mirror()
            return rows

    def _mirror(self) -> None:
        """Upload to the object store what the local exports changed (if configured)."""
        if self.mirror is None:
            return
        for hep_type in self._exported_types():
            try:
                self.mirror.sync(self.catalog(hep_type))
            except UploadError as exc:
                self.counters.add("s3_sync_failed")
                log.error("upload of HEP type %d exports failed, will retry: %s", hep_type, exc)

    def compact(self) -> int:
        with self._lock:
            merged = 0
            for hep_type in hep_types(self.db):
                merged += compact(self.catalog(hep_type), self.export_settings,
                                  self.settings.compact_settle,
                                  fetch=self.mirror.fetch if self.mirror else None)
            if self.lake is not None:
                self.lake.compact()
            self.counters.add("compacted_files", merged)
            self._mirror()
            return merged

    def retention(self) -> tuple[int, int]:
        policy = RetentionPolicy(self.settings.retention_days, self.settings.hot_days)
        if policy.retention_days is None and policy.hot_days is None:
            return 0, 0
        with self._lock:
            catalogs = {t: self.catalog(t) for t in self._exported_types()}
            result = apply_retention(self.db, catalogs, policy)
            if self.lake is not None and policy.retention_days is not None:
                cutoff = int((time.time() - policy.retention_days * 86400) * 1_000_000)
                self.lake.retain(cutoff)
            self.counters.add("retention_partitions", result.partitions)
            self.counters.add("retention_files", result.files)
            self._mirror()
            return result.partitions, result.files

    def run_now(self) -> None:
        """Everything, now: flush, export all rows so far, compact, apply retention."""
        self.db.flush()
        self.export(everything=True)
        self.compact()
        self.retention()

    def catalog(self, hep_type: int) -> TypeCatalog:
        """A type's catalog opened for writing (recovers what a crash left): only under the
        maintenance lock."""
        return TypeCatalog.open(self.settings.parquet_dir, self.settings.writer_id, hep_type)

    def _exported_types(self) -> list[int]:
        base = self.settings.parquet_dir / self.settings.writer_id / "dbs" / "hep-0"
        found = set(hep_types(self.db))
        if base.exists():
            for child in base.iterdir():
                if child.name.startswith("hep_") and child.name.endswith("-0"):
                    found.add(int(child.name[4:-2]))
        return sorted(found)

    def export_lag(self) -> float:
        """Seconds since the oldest row not yet exported was captured (0: all exported)."""
        oldest = None
        for hep_type in hep_types(self.db):
            # read-only: opening for writing finishes and cleans up, which must not race an
            # export running meanwhile (it would delete the .tmp files being written)
            catalog = TypeCatalog.open_readonly(self.settings.parquet_dir,
                                                self.settings.writer_id, hep_type)
            for part in self.db.partitions(hep_type):
                if catalog.partitions.get(str(part.id), 0) < part.rows:
                    oldest = part.min_ts if oldest is None else min(oldest, part.min_ts)
                    break
        return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1e6)

    # --- schedule ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hepserver-maintenance",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        s = self.settings
        due = {"export": time.monotonic() + s.export_interval,
               "compact": time.monotonic() + s.compact_interval,
               "retention": time.monotonic() + min(60.0, s.retention_interval)}
        steps = {"export": (self.export, s.export_interval),
                 "compact": (self.compact, s.compact_interval),
                 "retention": (self.retention, s.retention_interval)}
        while not self._stop.wait(1.0):
            for name, (step, interval) in steps.items():
                if time.monotonic() >= due[name]:
                    try:
                        step()
                    except Exception:  # keep capturing; report and try next time
                        self.counters.add(f"{name}_failed")
                        log.exception("%s failed", name)
                    due[name] = time.monotonic() + interval

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        if self.lake is not None:
            self.lake.close()
