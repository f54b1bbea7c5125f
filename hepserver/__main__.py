"""`hepserver`: the HEP capture daemon with an embedded hyena engine.

    hepserver                       # UDP+TCP HEP on 0.0.0.0:9069, data in ./data/hyena
    PORT=9060 hepserver --tls-port 9061 --tls-cert c.pem --tls-key k.pem
    hepserver export [--all]        # one-off maintenance while the daemon is stopped:
    hepserver compact               #   export, compact exported files,
    hepserver retention --retention-days 30   # drop old data

Environment variables (HEPop's names) give the defaults; flags override them.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from hepserver.config import Config

__all__ = ["main", "parse_args"]


def _env_port(env: dict[str, str] | None, name: str) -> int | None:
    value = (os.environ if env is None else env).get(name)
    return int(value) if value and value.isdigit() else None


def parse_args(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Config:
    base = Config.from_env(env)
    parser = argparse.ArgumentParser(
        prog="hepserver",
        description="HEP (Homer Encapsulation Protocol) capture server storing into hyena. "
                    "Receives HEPv3/v2/v1 over UDP and TCP on one port (and TLS on another), "
                    "parses SIP, and stores every packet, one partition group per HEP type.",
        epilog="Environment: PORT, HOST, HTTP_PORT, WRITER_ID, DATA_DIR, PARQUET_DIR give the "
               "defaults of the matching options. See docs/operations.md.")
    parser.add_argument("--host", default=base.host,
                        help="address to listen on; 0.0.0.0 also listens on :: (default "
                             "%(default)s, env HOST)")
    parser.add_argument("--port", type=int, default=base.port,
                        help="HEP port for UDP and TCP (default %(default)s, env PORT)")
    parser.add_argument("--http-port", type=int,
                        help="HTTP API port (default HEP port + 1, env HTTP_PORT)")
    parser.add_argument("--no-http", action="store_true", help="do not serve the HTTP API")
    parser.add_argument("--query-timeout", type=float, default=base.query_timeout,
                        help="seconds a query may run (default %(default)s)")
    parser.add_argument("--tls-port", type=int, help="HEP over TLS on this port")
    parser.add_argument("--tls-cert", help="PEM certificate (chain) for TLS")
    parser.add_argument("--tls-key", help="PEM private key for TLS")
    parser.add_argument("--data-dir", type=Path, default=base.data_dir,
                        help="hyena data directory (default %(default)s, env DATA_DIR)")
    parser.add_argument("--parquet-dir", type=Path, default=base.parquet_dir,
                        help="where exports go (default %(default)s, env PARQUET_DIR)")
    parser.add_argument("--writer-id", default=base.writer_id,
                        help="this node's name in exports (default: host name, env WRITER_ID)")
    parser.add_argument("--workers", type=int, default=base.workers,
                        help="decoding processes (default: one per CPU, %(default)s)")
    parser.add_argument("--auth-key", help="accept only HEP packets carrying this auth key")
    parser.add_argument("--flush-interval", type=float, default=base.flush_interval,
                        help="seconds between commits to disk (default %(default)s)")
    parser.add_argument("--stats-interval", type=float, default=base.stats_interval,
                        help="seconds between counter log lines, 0 for none (default "
                             "%(default)s)")
    exports = parser.add_argument_group("exports (docs/export.md)")
    exports.add_argument("--no-export", action="store_true",
                         help="do not export sealed partitions to Parquet")
    exports.add_argument("--export-interval", type=float, default=base.export_interval,
                         help="seconds between exports of sealed partitions (default "
                              "%(default)s)")
    exports.add_argument("--export-open-interval", type=float,
                         default=base.export_open_interval,
                         help="seconds between exports of the rows of partitions still being "
                              "written (default %(default)s)")
    exports.add_argument("--compression", default=base.compression,
                         help="Parquet codec: zstd, snappy, gzip, lz4, none (default %(default)s)")
    exports.add_argument("--compact-interval", type=float, default=base.compact_interval,
                         help="seconds between compactions (default %(default)s)")
    exports.add_argument("--ducklake", metavar="CATALOG",
                         help="also keep a DuckLake: sqlite:<file> or postgres:<conninfo>")
    exports.add_argument("--ducklake-data", metavar="PATH",
                         help="DuckLake data path: a directory or s3://bucket/prefix "
                              "(default <parquet dir>/<writer id>/ducklake)")
    exports.add_argument("--query-lake", action="store_true",
                         help="the HTTP API reads exported data from the DuckLake (all nodes)")
    exports.add_argument("--s3-bucket", default=base.s3_bucket,
                         help="also upload exports to this bucket (env S3_BUCKET; credentials "
                              "from AWS_* variables)")
    exports.add_argument("--s3-prefix", default=base.s3_prefix,
                         help="key prefix in the bucket (env S3_PREFIX)")
    exports.add_argument("--s3-endpoint", default=base.s3_endpoint,
                         help="S3-compatible endpoint URL (env AWS_ENDPOINT_URL)")
    exports.add_argument("--s3-delete-local", action="store_true",
                         help="delete local export files once uploaded")
    exports.add_argument("--retention-days", type=float,
                         help="drop hot partitions and exported files older than this")
    exports.add_argument("--hot-days", type=float,
                         help="drop hot partitions older than this once exported")
    server = parser.add_argument_group("hyena server on the same data")
    server.add_argument("--hyena-transport", default=base.hyena_transport,
                        choices=["ipc", "tcp", "ws", "off"],
                        help="nanomsg protocol server (default %(default)s)")
    server.add_argument("--hyena-ipc-path", default=base.hyena_ipc_path,
                        help="its control socket for ipc (default %(default)s)")
    server.add_argument("--hyena-session-dir", default=base.hyena_session_dir,
                        help="its session sockets for ipc (default %(default)s)")
    server.add_argument("--hyena-port", type=int, default=base.hyena_port,
                        help="its port for tcp/ws (default %(default)s)")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        http_port = args.http_port
        if http_port is None:
            http_port = _env_port(env, "HTTP_PORT") if _env_port(env, "HTTP_PORT") is not None \
                else args.port + 1 if args.port else 0
        return Config(host=args.host, port=args.port,
                      http_port=-1 if args.no_http else http_port,
                      query_timeout=args.query_timeout,
                      tls_port=args.tls_port, tls_cert=args.tls_cert, tls_key=args.tls_key,
                      data_dir=args.data_dir, parquet_dir=args.parquet_dir,
                      writer_id=args.writer_id, workers=args.workers,
                      auth_key=args.auth_key.encode() if args.auth_key else None,
                      flush_interval=args.flush_interval, stats_interval=args.stats_interval,
                      export=not args.no_export, export_interval=args.export_interval,
                      export_open_interval=args.export_open_interval,
                      compression=args.compression, compact_interval=args.compact_interval,
                      ducklake=args.ducklake, ducklake_data=args.ducklake_data,
                      query_lake=args.query_lake, s3_bucket=args.s3_bucket,
                      s3_prefix=args.s3_prefix, s3_endpoint=args.s3_endpoint,
                      s3_delete_local=args.s3_delete_local, retention_days=args.retention_days,
                      hot_days=args.hot_days, hyena_transport=args.hyena_transport,
                      hyena_ipc_path=args.hyena_ipc_path,
                      hyena_session_dir=args.hyena_session_dir, hyena_port=args.hyena_port)
    except ValueError as exc:
        parser.error(str(exc))


COMMANDS = ("export", "compact", "retention")


def maintain(command: str, argv: list[str]) -> int:
    """Run one maintenance step on a stopped daemon's data directory."""
    everything = "--all" in argv
    config = parse_args([a for a in argv if a != "--all"])
    import hyena
    from hepserver.export.maintenance import Maintenance, MaintenanceSettings

    log = logging.getLogger("hepserver")
    try:
        db = hyena.open(config.data_dir)
    except hyena.errors.LockedError as exc:
        log.error("%s: stop the daemon first, or use the hyena server's DataCompaction", exc)
        return 2
    with db:
        maintenance = Maintenance(db, MaintenanceSettings.from_config(
            config, export=True, compact_settle=0.0))
        try:
            if command == "export":
                log.info("exported %d rows", maintenance.export(everything))
            elif command == "compact":
                log.info("merged %d files", maintenance.compact())
            else:
                parts, files = maintenance.retention()
                log.info("dropped %d partitions and %d files", parts, files)
        finally:
            maintenance.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return maintain(argv[0], argv[1:])
    config = parse_args(argv)
    from hepserver.daemon import CaptureDaemon  # after logging is set up

    daemon = CaptureDaemon(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        daemon.start()
    except OSError as exc:
        logging.getLogger("hepserver").error("%s", exc)
        return 1
    lines = [f"HEP capture  {config.host}:{daemon.ports['udp']} (UDP and TCP)"
             + (f", TLS on port {daemon.ports['tls']}" if "tls" in daemon.ports else "")]
    if daemon.hyena_url:
        lines.append(f"hyena server {daemon.hyena_url}")
    if daemon.http_url:
        lines.append(f"HTTP API     {daemon.http_url}")
    lines.append(f"data         {config.data_dir} (exports in {config.parquet_dir})")
    print("hepserver:\n  " + "\n  ".join(lines) + "\nCtrl-C to stop", file=sys.stderr,
          flush=True)
    interval = config.stats_interval or None
    while not stop.wait(interval):
        daemon.log_stats()
    daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
