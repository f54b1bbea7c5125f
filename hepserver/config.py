"""Settings of the capture daemon: one explicit object, from environment and command line.

HEPop's environment variables are honoured: PORT (HEP port, default 9069), HOST (bind
address, default 0.0.0.0), HTTP_PORT (default PORT + 1), WRITER_ID (default the host name),
PARQUET_DIR (exports, default ./data). DATA_DIR sets hyena's data directory (default
./data/hyena). S3_BUCKET, S3_PREFIX and AWS_ENDPOINT_URL configure uploads of the exports to an
object store (credentials from the AWS_* variables boto3 reads). Command-line flags override
the environment.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Config"]


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, not {value!r}")


@dataclass(frozen=True)
class Config:
    host: str = "0.0.0.0"
    port: int = 9069
    http_port: int | None = None  # None: port + 1
    tls_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    data_dir: Path = Path("data/hyena")
    parquet_dir: Path = Path("data")
    writer_id: str = field(default_factory=socket.gethostname)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    auth_key: bytes | None = None
    flush_interval: float = 1.0
    batch_rows: int = 4096
    batch_delay: float = 0.2
    stats_interval: float = 60.0
    # exports (docs/export.md)
    export: bool = True
    export_interval: float = 60.0
    export_open_interval: float = 600.0
    compression: str = "zstd"
    compact_interval: float = 600.0
    ducklake: str | None = None  # sqlite:<file> or postgres:<conninfo>
    retention_days: float | None = None
    hot_days: float | None = None
    # the hyena nanomsg server sharing the data directory ("off" to disable)
    hyena_transport: str = "ipc"
    hyena_ipc_path: str = "/tmp/hyena.ipc"
    hyena_session_dir: str = "/tmp"
    hyena_port: int = 4433
    query_timeout: float = 30.0
    ducklake_data: str | None = None  # DuckLake data path (a directory or s3://bucket/prefix)
    query_lake: bool = False  # the HTTP API reads exported data from the DuckLake
    # object storage for exports (docs/operations.md, "Several nodes")
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint: str | None = None
    s3_delete_local: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Config":
        env = dict(os.environ) if env is None else env
        port = _env_int(env, "PORT", 9069)
        return cls(host=env.get("HOST", "0.0.0.0"), port=port,
                   http_port=_env_int(env, "HTTP_PORT", port + 1),
                   data_dir=Path(env.get("DATA_DIR", "data/hyena")),
                   parquet_dir=Path(env.get("PARQUET_DIR", "data")),
                   writer_id=env.get("WRITER_ID") or socket.gethostname(),
                   s3_bucket=env.get("S3_BUCKET") or None, s3_prefix=env.get("S3_PREFIX", ""),
                   s3_endpoint=env.get("AWS_ENDPOINT_URL") or None)

    @property
    def lake_data_path(self) -> str:
        """The DuckLake's data path: as given, or a directory beside the exports."""
        return self.ducklake_data or str(self.parquet_dir / self.writer_id / "ducklake")

    @property
    def http(self) -> int | None:
        """The HTTP API's port (None: no HTTP API; 0: any free port)."""
        if self.http_port is None:
            return None if self.port == 0 else self.port + 1
        return self.http_port if self.http_port >= 0 else None

    def __post_init__(self) -> None:
        for name in ("port", "http_port", "tls_port"):
            value = getattr(self, name)
            if value is not None and not -1 <= value <= 65535:
                raise ValueError(f"{name} must be between 0 and 65535, not {value}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and a key")
        if self.tls_cert and self.tls_port is None:
            raise ValueError("TLS needs a port (--tls-port)")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.hyena_transport not in ("ipc", "tcp", "ws", "off"):
            raise ValueError("hyena transport must be ipc, tcp, ws or off")
        if self.export_interval <= 0 or self.export_open_interval < 0:
            raise ValueError("export intervals must be positive")
        if self.query_lake and not self.ducklake:
            raise ValueError("querying the lake (--query-lake) needs a DuckLake (--ducklake)")
        for name in ("retention_days", "hot_days"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
