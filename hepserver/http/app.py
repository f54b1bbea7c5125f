"""The HTTP API (aiohttp), on PORT + 1 by default: SQL over capture data, line-protocol
writes, Homer's metadata endpoints, health and Prometheus metrics. docs/http.md has every
endpoint with curl examples.

Queries run on a thread pool (DuckDB and hyena release the GIL), at most `max_queries` at a
time; a query waiting longer than its timeout is refused with 503 rather than piling up.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import web

from hepserver.http.lineproto import LineProtocol, parse_lines
from hepserver.http.query import QueryEngine, QueryError
from hepserver.http.render import ARROW, render

__all__ = ["HttpApi"]

log = logging.getLogger("hepserver.http")
MAX_BODY = 16 * 1024 * 1024


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


class HttpApi:
    def __init__(self, db, engine: QueryEngine, lines: LineProtocol,
                 stats: Callable[[], dict[str, Any]], health: Callable[[], dict[str, Any]],
                 writer_id: str, max_queries: int = 4) -> None:
        self.db = db
        self.engine = engine
        self.lines = lines
        self.stats = stats
        self.health_check = health
        self.writer_id = writer_id
        self._pool = ThreadPoolExecutor(max_queries, thread_name_prefix="hepserver-query")
        self._slots: asyncio.Semaphore | None = None  # made on the server's loop
        self.max_queries = max_queries
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- application -----------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors])
        app.add_routes([
            web.get("/query", self.query), web.post("/query", self.query),
            web.post("/write", self.write), web.post("/api/v2/write", self.write),
            web.get("/api/v1/metadata/check", self.metadata_check),
            web.get("/api/v1/metadata/stats", self.metadata_stats),
            web.get("/health", self.health), web.get("/metrics", self.metrics),
        ])
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"request body larger than {MAX_BODY} bytes")
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason)
            raise
        except Exception:  # never a crash or a hung request
            log.exception("request failed: %s %s", request.method, request.path)
            return _error(500, "internal error (see the server log)")

    async def _blocking(self, fn, *args):
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_queries)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.engine.timeout)
        except asyncio.TimeoutError:
            raise web.HTTPServiceUnavailable(reason="too many queries running; try again")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._slots.release()

    # --- handlers ---------------------------------------------------------------------------

    async def query(self, request: web.Request) -> web.Response:
        sql = request.query.get("q") or request.query.get("query")
        if request.method == "POST":
            body = await request.text()
            if request.content_type == "application/json":
                try:
                    sql = json.loads(body).get("query") or json.loads(body).get("q")
                except (ValueError, AttributeError):
                    return _error(400, "body is not a JSON object with a \"query\"")
            elif body.strip():
                sql = body
        if not sql or not sql.strip():
            return _error(400, "no query: use ?q=SQL, a SQL body or {\"query\": SQL}")
        try:
            rows, truncated, body, kind = await self._blocking(
                self._answer, sql, request.headers.get("Accept", ""))
        except QueryError as exc:
            return _error(exc.status, str(exc))
        headers = {"X-Rows": str(rows)}
        if truncated:
            headers["X-Truncated"] = "true"
        return web.Response(body=body, headers=headers, content_type=kind,
                            charset=None if kind == ARROW else "utf-8")

    def _answer(self, sql: str, accept: str) -> tuple[int, bool, bytes, str]:
        """(rows, truncated, body, content type): the query and its rendering, on a query
        thread (a large JSON answer takes a while to write; the event loop stays free)."""
        table, truncated = self.engine.run(sql)
        body, kind = render(table, accept)
        return table.num_rows, truncated, body, kind

    async def write(self, request: web.Request) -> web.Response:
        body = await request.text()
        try:
            points, errors = parse_lines(body, request.query.get("precision", "ns"))
        except ValueError as exc:
            return _error(400, str(exc))
        now_us = time.time_ns() // 1000
        stored, problems = await self._blocking(self.lines.write, points, now_us)
        errors += problems
        status = 204 if not errors else (400 if stored == 0 else 207)
        if status == 204:
            return web.Response(status=204)
        return web.json_response({"stored": stored, "errors": errors}, status=status)

    async def metadata_check(self, request: web.Request) -> web.Response:
        low, high = _range(request)
        counts = await self._blocking(self._table_counts, low, high)
        total = sum(counts.values())
        return web.json_response({
            "has_data": total > 0, "node": self.writer_id, "min_ts": low // 1000,
            "max_ts": high // 1000, "count": total, "tables": counts})

    async def metadata_stats(self, request: web.Request) -> web.Response:
        return web.json_response(await self._blocking(self._stats_body))

    async def health(self, request: web.Request) -> web.Response:
        checks = self.health_check()
        ok = all(checks.values())
        return web.json_response({"status": "ok" if ok else "failing", "checks": checks},
                                 status=200 if ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        lines = []
        for name, value in sorted(self.stats().items()):
            metric, _, label = name.partition(":")
            metric = "hepserver_" + metric.replace("-", "_")
            labels = f'{{reason="{label}"}}' if label else ""
            lines.append(f"{metric}{labels} {value}")
        return web.Response(text="\n".join(lines) + "\n",
                            content_type="text/plain", charset="utf-8")

    # --- data -------------------------------------------------------------------------------

    def _table_counts(self, low_us: int, high_us: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for hep_type in self.db.sources:
            if hep_type >= 1000:
                continue
            names = ["call", "registration", "default"] if hep_type == 1 else ["default"]
            for name in names:
                sql = (f"SELECT count(*) FROM hep_proto_{hep_type}_{name} WHERE timestamp >= "
                       f"'{_iso(low_us)}' AND timestamp < '{_iso(high_us)}'")
                counts[f"hep_proto_{hep_type}_{name}"] = int(self.engine.run(sql)[0].column(0)[0]
                                                             .as_py())
        return counts

    def _stats_body(self) -> dict[str, Any]:
        parts = self.db.partitions()
        types: dict[str, Any] = {}
        for part in parts:
            entry = types.setdefault(str(part.source), {"rows": 0, "min_ts": part.min_ts,
                                                        "max_ts": part.max_ts})
            entry["rows"] += part.rows or 0
            entry["min_ts"] = min(entry["min_ts"], part.min_ts)
            entry["max_ts"] = max(entry["max_ts"], part.max_ts)
        return {"node": self.writer_id,
                "min_ts": min((p.min_ts for p in parts), default=None),
                "max_ts": max((p.max_ts for p in parts), default=None),
                "hot_rows": sum(p.rows or 0 for p in parts), "types": types,
                "counters": self.stats()}

    # --- serving ----------------------------------------------------------------------------

    def start(self, host: str, port: int) -> str:
        """Serve on a thread of its own; returns the URL."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._runner = web.AppRunner(self.application(), access_log=None,
                                             shutdown_timeout=2.0)
                self._loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, host, port, reuse_address=True)
                self._loop.run_until_complete(site.start())
                bound = self._runner.addresses[0][1]
                self.url = f"http://{host if host not in ('0.0.0.0', '::') else 'localhost'}:{bound}"
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="hepserver-http", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise OSError(f"cannot serve HTTP on {host} port {port}: {errors[0]}")
        return self.url

    def stop(self) -> None:
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _range(request: web.Request) -> tuple[int, int]:
    """min_ts/max_ts query parameters (ms since the epoch, Homer's unit) in µs."""
    now_ms = time.time_ns() // 1_000_000
    try:
        low = int(request.query.get("min_ts", now_ms - 3_600_000))
        high = int(request.query.get("max_ts", now_ms))
    except ValueError:
        raise web.HTTPBadRequest(reason="min_ts and max_ts are milliseconds since the epoch")
    return low * 1000, high * 1000 + 1000


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).isoformat()
