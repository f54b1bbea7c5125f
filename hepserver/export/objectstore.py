"""Exports on S3-compatible object storage: the same layout and metadata.json as on disk.

Exports are written locally first (exactly once, see catalog.py) and then mirrored: every
committed file is uploaded (multipart above 8 MiB, so an object appears whole or not at all),
then metadata.json, which therefore never lists an object that is not there; objects a
compaction or retention replaced are deleted after the new metadata.json is up. Which files are
uploaded is recorded locally, after the fact, so a crash only causes an upload to be repeated.
Local copies are deleted (with `delete_local`) only once their upload is confirmed; compaction
fetches what it needs back.

Credentials and endpoint come from the usual places: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION, AWS_ENDPOINT_URL (or `endpoint_url`), ~/.aws. Transient errors (timeouts,
throttling, 5xx) are retried with exponential back-off and counted (`s3_retries`,
`s3_failures`); a sync that still fails leaves everything local and is tried again at the next
maintenance step. Multipart uploads that a killed process left unfinished are aborted when the
next process starts (`abort_stale_uploads`), so they do not pile up in the bucket.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import xxhash

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from hepserver.counters import Counters
from hepserver.export.catalog import TypeCatalog

__all__ = ["ObjectStoreSettings", "ObjectStore", "Mirror", "UploadError"]

log = logging.getLogger("hepserver.objectstore")
_RETRYABLE = {"RequestTimeout", "RequestTimeTooSkewed", "InternalError", "SlowDown",
              "ServiceUnavailable", "503", "500", "502", "504", "Throttling"}


def _transient(error: ClientError) -> bool:
    """Worth another try: throttling, time-outs and server-side errors (5xx)."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return code in _RETRYABLE or status in _RETRYABLE


class UploadError(Exception):
    """The object store kept failing; the local files stay until a later attempt works."""


@dataclass(frozen=True)
class ObjectStoreSettings:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    delete_local: bool = False
    attempts: int = 8
    backoff: float = 0.2  # seconds, doubled each attempt (with jitter), at most 10 s
    multipart_threshold: int = 8 * 1024 * 1024
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p and p.strip("/"))

    def url(self, *parts: str) -> str:
        """The s3:// URL of a key, as DuckDB's httpfs reads it."""
        return f"s3://{self.bucket}/{self.key(*parts)}"


class ObjectStore:
    def __init__(self, settings: ObjectStoreSettings, counters: Counters | None = None) -> None:
        self.settings = settings
        self.counters = counters or Counters()
        self.client = boto3.client(
            "s3", endpoint_url=settings.endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
            region_name=settings.region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            config=BotoConfig(retries={"total_max_attempts": 1},  # retries are ours, counted
                              connect_timeout=settings.connect_timeout,
                              read_timeout=settings.read_timeout))
        self.transfer = TransferConfig(multipart_threshold=settings.multipart_threshold,
                                       multipart_chunksize=settings.multipart_threshold)

    def _retry(self, what: str, fn, *args, **kwargs):
        delay = self.settings.backoff
        for attempt in range(1, self.settings.attempts + 1):
            try:
                return fn(*args, **kwargs)
            except (ClientError, S3UploadFailedError) as exc:
                # upload_file wraps the ClientError of the request that failed
                cause = exc if isinstance(exc, ClientError) else exc.__context__
                if isinstance(cause, ClientError) and not _transient(cause):
                    raise UploadError(f"{what}: {cause}") from exc
                error = exc
            except (BotoCoreError, OSError) as exc:  # timeouts, connection resets
                error = exc
            self.counters.add("s3_retries")
            if attempt == self.settings.attempts:
                self.counters.add("s3_failures")
                raise UploadError(f"{what} failed {attempt} times: {error}") from error
            log.warning("%s failed (%s); retrying in %.1f s", what, error, delay)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)

    def put_file(self, path: Path, key: str) -> None:
        self._retry(f"upload {key}", self.client.upload_file, str(path), self.settings.bucket,
                    key, Config=self.transfer)
        self.counters.add("s3_uploaded_bytes", path.stat().st_size)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._retry(f"upload {key}", self.client.put_object, Bucket=self.settings.bucket,
                    Key=key, Body=data)

    def get_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".download")
        self._retry(f"download {key}", self.client.download_file, self.settings.bucket, key,
                    str(tmp))
        os.rename(tmp, path)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start:start + 1000]]
            self._retry("delete objects", self.client.delete_objects,
                        Bucket=self.settings.bucket, Delete={"Objects": chunk, "Quiet": True})

    def list(self, prefix: str) -> list[str]:
        keys = []
        pages = self._retry(f"list {prefix}", lambda: list(
            self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=prefix)))
        for page in pages:
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys

    def abort_stale_uploads(self, prefix: str, older_than: float = 3600.0) -> int:
        """Abort multipart uploads under `prefix` begun more than `older_than` seconds ago
        (left by a process that was killed mid-upload); returns how many."""
        found = self._retry("list multipart uploads", self.client.list_multipart_uploads,
                            Bucket=self.settings.bucket, Prefix=prefix)
        limit = datetime.datetime.now(datetime.timezone.utc) - \
            datetime.timedelta(seconds=older_than)
        aborted = 0
        for upload in found.get("Uploads", []):
            if upload["Initiated"] <= limit:
                self._retry("abort multipart upload", self.client.abort_multipart_upload,
                            Bucket=self.settings.bucket, Key=upload["Key"],
                            UploadId=upload["UploadId"])
                aborted += 1
        if aborted:
            log.info("aborted %d unfinished multipart uploads under %s", aborted, prefix)
        return aborted


class Mirror:
    """Keeps one HEP type's exports in the object store in step with the local catalog."""

    STATE = "uploaded.json"  # local: what is up, and what must go

    def __init__(self, store: ObjectStore, writer_id: str | None = None) -> None:
        self.store = store
        if writer_id is not None:  # a new process: clear what a killed one left half-done
            try:
                store.abort_stale_uploads(store.settings.key(writer_id) + "/", older_than=0)
            except UploadError as exc:
                log.warning("could not list unfinished uploads: %s", exc)

    def _state(self, catalog: TypeCatalog) -> dict:
        try:
            return json.loads((catalog.directory / self.STATE).read_text())
        except FileNotFoundError:
            return {"uploaded": [], "remove": [], "published": None}

    def _save(self, catalog: TypeCatalog, state: dict) -> None:
        path = catalog.directory / self.STATE
        tmp = path.with_name(self.STATE + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path)

    def _key(self, catalog: TypeCatalog, relative: str) -> str:
        return self.store.settings.key(catalog.writer_id, "dbs", "hep-0",
                                       f"hep_{catalog.hep_type}-0", relative)

    def sync(self, catalog: TypeCatalog) -> int:
        """Upload what is new, publish metadata.json, delete what is gone; returns uploads."""
        catalog.directory.mkdir(parents=True, exist_ok=True)
        state = self._state(catalog)
        uploaded = set(state["uploaded"])
        listed = {f.path for f in catalog.files}
        count = 0
        for entry in catalog.files:
            if entry.path in uploaded:
                continue
            local = catalog.directory / entry.path
            if not local.exists():
                raise UploadError(f"exported file missing before its upload: {local}")
            self.store.put_file(local, self._key(catalog, entry.path))
            uploaded.add(entry.path)
            count += 1
        gone = sorted((uploaded - listed) | set(state["remove"]))
        remote = json.loads(catalog.path.read_text()) if catalog.path.exists() else {}
        remote.pop("pending", None)
        remote.pop("deleting", None)
        body = json.dumps(remote, indent=1).encode()
        digest = xxhash.xxh64_hexdigest(body)
        if digest != state.get("published") or count:
            self.store.put_bytes(self._key(catalog, "metadata.json"), body)
        state = {"uploaded": sorted(uploaded & listed), "remove": gone, "published": digest}
        self._save(catalog, state)
        if gone:
            self.store.delete([self._key(catalog, path) for path in gone])
            state["remove"] = []
            self._save(catalog, state)
        if self.store.settings.delete_local:
            for path in state["uploaded"]:
                local = catalog.directory / path
                if local.exists():
                    local.unlink()
        self.store.counters.add("s3_uploaded_files", count)
        return count

    def url(self, catalog: TypeCatalog, relative: str) -> str:
        """Where a reader finds an exported file in the bucket."""
        return f"s3://{self.store.settings.bucket}/{self._key(catalog, relative)}"

    def fetch(self, catalog: TypeCatalog, relative: str) -> Path:
        """The local copy of an exported file, downloaded back if it was deleted."""
        local = catalog.directory / relative
        if not local.exists():
            self.store.get_file(self._key(catalog, relative), local)
        return local
