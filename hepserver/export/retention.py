"""Retention: drop what is older than the operator wants to keep.

- `retention_days`: hyena partitions whose newest row is older are dropped, exported or not,
  and exported files whose newest row is older are deleted (committed in metadata.json first).
- `hot_days`: hyena partitions older than that are dropped once fully exported, so Parquet
  keeps data longer than the hot store.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from hepserver.export.catalog import TypeCatalog

__all__ = ["RetentionPolicy", "apply_retention"]

log = logging.getLogger("hepserver.retention")
DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True)
class RetentionPolicy:
    retention_days: float | None = None
    hot_days: float | None = None


@dataclass
class RetentionResult:
    partitions: int = 0
    files: int = 0


def apply_retention(db, catalogs: dict[int, TypeCatalog], policy: RetentionPolicy,
                    now_us: int | None = None) -> RetentionResult:
    now_us = time.time_ns() // 1000 if now_us is None else now_us
    result = RetentionResult()
    cutoff = None if policy.retention_days is None else now_us - int(policy.retention_days * DAY_US)
    hot_cutoff = None if policy.hot_days is None else now_us - int(policy.hot_days * DAY_US)
    victims = []
    for part in db.partitions():
        catalog = catalogs.get(part.source)
        exported = catalog is not None and catalog.partitions.get(str(part.id), 0) >= part.rows
        if (cutoff is not None and part.max_ts < cutoff) or \
                (hot_cutoff is not None and part.max_ts < hot_cutoff and exported):
            victims.append(part.id)
    if victims:
        result.partitions = db.drop_partitions(victims)
        log.info("retention dropped %d hyena partitions", result.partitions)
    if cutoff is not None:
        cutoff_ns = cutoff * 1000
        for catalog in catalogs.values():
            old = [f for f in catalog.files if f.max_time < cutoff_ns]
            if not old:
                continue
            catalog.files = [f for f in catalog.files if f.max_time >= cutoff_ns]
            catalog.deleting.extend(f.path for f in old)
            catalog.save()
            catalog.finish()
            result.files += len(old)
        if result.files:
            log.info("retention deleted %d exported files", result.files)
    return result
