"""The capture daemon: hyena opened in this process, worker processes on the sockets, one
writer thread appending what they decode.

Start: open (or create) the data directory and its HEP columns, open the sockets (a port in use
fails here, clearly), start one worker process per CPU (spawned, not forked: nng and numba are
not fork-safe) and the writer. Stop (SIGTERM/SIGINT or `stop()`): workers stop listening, take
what is already queued, ship it; the writer appends it and flushes; the database is closed.
A restart continues in the same data directory.
"""
from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from pathlib import Path

import hyena
from hepserver.config import Config
from hepserver.counters import Counters
from hepserver.export.maintenance import Maintenance, MaintenanceSettings
from hepserver.ingest.listeners import SocketSet, open_sockets
from hepserver.ingest.worker import WorkerSettings, run_worker
from hepserver.ingest.writer import Writer
from hepserver.schema import ensure_schema

__all__ = ["CaptureDaemon", "udp_drops"]

log = logging.getLogger("hepserver")


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped for full receive buffers on sockets bound to `port`."""
    total = 0
    wanted = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[1].endswith(wanted):
                total += int(fields[-1])
    return total


class CaptureDaemon:
    def __init__(self, config: Config, db: hyena.Database | None = None) -> None:
        self.config = config
        self.counters = Counters()
        self._own_db = db is None
        self.db = db
        self._workers: list[multiprocessing.Process] = []
        self._pipes = []
        self.writer: Writer | None = None
        self.maintenance: Maintenance | None = None
        self.hyena_server = None
        self.hyena_url: str | None = None
        self.http_url: str | None = None
        self.http = None
        self._stopped = threading.Event()
        self._drops_at_start = 0
        self.started_at = 0.0
        self.ports: dict[str, int] = {}

    def start(self) -> None:
        cfg = self.config
        if self.db is None:
            self.db = hyena.open(cfg.data_dir)
        ensure_schema(self.db)
        sets = open_sockets(cfg.host, cfg.port, cfg.workers, cfg.tls_port)
        self.ports = _bound_ports(sets[0])
        self._drops_at_start = udp_drops(self.ports["udp"])
        settings = WorkerSettings(cfg.batch_rows, cfg.batch_delay, cfg.auth_key, cfg.tls_cert,
                                  cfg.tls_key)
        context = multiprocessing.get_context("spawn")
        try:
            for index, sockets in enumerate(sets):
                parent, child = context.Pipe(duplex=True)
                process = context.Process(target=run_worker, args=(sockets, settings, child),
                                          name=f"hepserver-worker-{index}", daemon=True)
                process.start()
                child.close()
                self._workers.append(process)
                self._pipes.append(parent)
        finally:
            for sockets in sets:
                sockets.close()  # the workers hold their own copies now
        self.writer = Writer(self.db, self._pipes, self.counters, cfg.flush_interval)
        self.writer.start()
        if not self.writer.wait_ready(120):  # workers load their decoding kernels first
            log.warning("capture workers are still starting; packets queue meanwhile")
        self.maintenance = Maintenance(self.db, MaintenanceSettings.from_config(cfg),
                                       self.counters)
        self.maintenance.start()
        if cfg.hyena_transport != "off":
            self._start_hyena_server()
        if cfg.http is not None:
            self._start_http()
        self.started_at = time.time()
        log.info("HEP capture listening on %s port %d (UDP, TCP)%s with %d workers; "
                 "data in %s", cfg.host, self.ports["udp"],
                 f", TLS port {self.ports['tls']}" if "tls" in self.ports else "",
                 cfg.workers, cfg.data_dir)

    def _start_hyena_server(self) -> None:
        """The nanomsg server on the same data directory; DataCompaction runs maintenance."""
        from hyena.server.handler import Handler
        from hyena.server.sessions import ServerConfig, SessionServer

        cfg = self.config
        handler = Handler(self.db, compact=self.maintenance.run_now)
        self.hyena_server = SessionServer(ServerConfig(
            transport=cfg.hyena_transport, hostname=cfg.host if cfg.host != "0.0.0.0" else "*",
            port=cfg.hyena_port, ipc_path=cfg.hyena_ipc_path,
            session_ipc_path=cfg.hyena_session_dir), handler.handle)
        self.hyena_url = self.hyena_server.start()

    def _start_http(self) -> None:
        from hepserver.http.app import HttpApi
        from hepserver.http.lineproto import LineProtocol
        from hepserver.http.query import QueryEngine

        cfg = self.config
        lake = (cfg.ducklake, str(cfg.lake_data_path)) if cfg.query_lake and cfg.ducklake \
            else None
        engine = QueryEngine(self.db, cfg.parquet_dir, cfg.writer_id, timeout=cfg.query_timeout,
                             lake=lake, objects=self.maintenance.settings.s3)
        lines = LineProtocol(self.db)
        engine.measurements = lines
        self.http = HttpApi(self.db, engine, lines, self.metrics, self.health, cfg.writer_id)
        host = "127.0.0.1" if cfg.host in ("127.0.0.1", "::1", "localhost") else \
            ("0.0.0.0" if cfg.host in ("0.0.0.0", "", "*", "::") else cfg.host)
        self.http_url = self.http.start(host, cfg.http)

    def health(self) -> dict[str, bool]:
        """What /health reports: the store takes commits, every worker still captures."""
        writer_ok = self.writer is not None and self.writer.is_alive() and \
            self.writer.error is None and time.time() - self.writer.last_flush < \
            max(10.0, 5 * self.config.flush_interval)
        return {"storage_writable": writer_ok,
                "capture_listening": bool(self._workers) and all(p.is_alive()
                                                                 for p in self._workers)}

    def metrics(self) -> dict[str, float]:
        """Counters, hyena's size and the export lag, for /metrics."""
        values: dict[str, float] = dict(self.stats())
        parts = self.db.partitions()
        values["hyena_rows"] = sum(p.rows or 0 for p in parts)
        values["hyena_partitions"] = len(parts)
        values["hyena_sources"] = len({p.source for p in parts})
        if self.maintenance is not None:
            values["export_lag_seconds"] = round(self.maintenance.export_lag(), 3)
        values["uptime_seconds"] = round(time.time() - self.started_at, 3)
        return values

    def stats(self) -> dict[str, int]:
        """Counters so far, with the kernel's UDP drops since start."""
        values = self.counters.snapshot()
        if "udp" in self.ports:
            values["dropped:udp"] = udp_drops(self.ports["udp"]) - self._drops_at_start
        return values

    def stop(self, timeout: float = 30.0) -> None:
        """Stop receiving, store what was received, flush, close."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for pipe in self._pipes:
            try:
                pipe.send_bytes(b"stop")
            except (BrokenPipeError, OSError):
                pass
        if self.http is not None:
            self.http.stop()
        if self.hyena_server is not None:
            self.hyena_server.stop()
        if self.writer is not None:
            self.writer.join(timeout)
        if self.maintenance is not None:
            self.maintenance.stop()
        for process in self._workers:
            process.join(5)
            if process.is_alive():
                process.kill()
        for pipe in self._pipes:
            pipe.close()
        if self._own_db and self.db is not None:
            self.db.close()
        log.info("stopped: %s", _summary(self.stats()))

    def log_stats(self) -> None:
        log.info("%s", _summary(self.stats()))


def _bound_ports(sockets: SocketSet) -> dict[str, int]:
    ports = {"udp": sockets.udp[0].getsockname()[1], "tcp": sockets.tcp[0].getsockname()[1]}
    if sockets.tls:
        ports["tls"] = sockets.tls[0].getsockname()[1]
    return ports


def _summary(values: dict[str, int]) -> str:
    main = ["received", "decoded", "stored", "bytes", "dropped:udp", "store_failed"]
    rejected = sum(v for k, v in values.items() if k.startswith("rejected:"))
    parts = [f"{k}={values.get(k, 0)}" for k in main] + [f"rejected={rejected}"]
    parts += [f"{k}={v}" for k, v in sorted(values.items()) if k.startswith("rejected:")]
    return " ".join(parts)
