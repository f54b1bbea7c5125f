"""`hyena`: serve a data directory over the original Hyena nanomsg protocol.

Flags and defaults are the original server's (so `-h` is the hostname; help is `--help`).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

__all__ = ["main", "build_parser"]


def _octal(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text!r} (e.g. 764)")
    if not 0 <= value <= 0o7777:
        raise argparse.ArgumentTypeError(f"mode out of range: {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError("Port number must be between 1 and 65535")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyena", add_help=False,
        description="Serve a hyena data directory over the Hyena nanomsg protocol: clients ask "
                    "the control socket for a session and talk to their own session socket.")
    parser.add_argument("--help", action="help", help="show this help and exit")
    parser.add_argument("-V", "--version", action="version", version="hyena 0.1.0")
    parser.add_argument("-d", "--data-directory", default="data", type=Path,
                        help="storage root, created if missing (default: %(default)s)")
    parser.add_argument("-t", "--transport", choices=["ipc", "tcp", "ws"], default="ipc",
                        help="transport of the control socket (default: %(default)s)")
    parser.add_argument("-h", "--hostname", default="*",
                        help="bind address for tcp/ws, * for all (default: %(default)s)")
    parser.add_argument("-p", "--port", type=_port, default=4433,
                        help="port for tcp/ws (default: %(default)s)")
    parser.add_argument("-i", "--ipc-path", default="/tmp/hyena.ipc",
                        help="control socket path for ipc (default: %(default)s)")
    parser.add_argument("-s", "--session-ipc-path", default="/tmp",
                        help="directory of the hyena-session-<id>.ipc session sockets "
                             "(default: %(default)s)")
    parser.add_argument("-u", "--ipc-owner", type=int, help="uid to own the ipc socket files")
    parser.add_argument("-g", "--ipc-group", help="gid (or group name) of the ipc socket files")
    parser.add_argument("-P", "--ipc-permissions", type=_octal,
                        help="octal mode of every ipc socket file, e.g. 770")
    parser.add_argument("--session-timeout", type=float, default=30.0,
                        help="close sessions silent for this many seconds (default: 30)")
    parser.add_argument("--gc-interval", type=float, default=60.0,
                        help="how often idle sessions are looked for, seconds (default: 60)")
    parser.add_argument("--legacy-errors", action="store_true",
                        help="number SerializeError 7 and Other 8 as the old Kotlin client")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="do not compile the scan kernels before serving")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        default=_default_level(), help="default: info (HYENA_DEBUG=1: debug)")
    return parser


def _default_level() -> str:
    return "debug" if os.environ.get("HYENA_DEBUG") == "1" else "info"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("hyena.server")
    import hyena
    from hyena.server.handler import Handler
    from hyena.server.sessions import ServerConfig, SessionServer, group_id

    try:
        config = ServerConfig(
            transport=args.transport, hostname=args.hostname, port=args.port,
            ipc_path=args.ipc_path, session_ipc_path=args.session_ipc_path,
            ipc_owner=args.ipc_owner,
            ipc_group=group_id(args.ipc_group) if args.ipc_group else None,
            ipc_permissions=args.ipc_permissions, session_timeout=args.session_timeout,
            gc_interval=args.gc_interval)
    except (ValueError, KeyError) as exc:
        log.error("bad settings: %s", exc)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        db = hyena.open(args.data_directory)
    except hyena.errors.HyenaError as exc:
        log.error("cannot open %s: %s", args.data_directory, exc)
        return 1
    if not args.no_warm_up:
        from hyena.protocol.warmup import warm_up as warm_up_wire
        log.info("kernels ready in %.1f s", hyena.warm_up() + warm_up_wire())
    handler = Handler(db, legacy_errors=args.legacy_errors)
    server = SessionServer(config, handler.handle)
    try:
        url = server.start()
    except Exception as exc:
        log.error("cannot listen on %s: %s", config.control_url(), exc)
        db.close()
        return 1
    print(f"hyena: serving {args.data_directory} on {url}", file=sys.stderr, flush=True)
    stop.wait()
    log.info("stopping")
    server.stop()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
