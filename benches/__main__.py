"""Run benchmarks: `python -m benches` runs every module here that defines main();
`python -m benches append --quick` runs the named ones, passing the remaining arguments on."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import benches

_NOT_BENCHMARKS = {"common", "__main__"}


def available() -> list[str]:
    """Modules of this package that define main()."""
    names = [m.name for m in pkgutil.iter_modules(benches.__path__)
             if m.name not in _NOT_BENCHMARKS]
    return [n for n in sorted(names)
            if hasattr(importlib.import_module(f"benches.{n}"), "main")]


def main(argv: list[str]) -> int:
    known = available()
    chosen = []
    while argv and argv[0] in known:
        chosen.append(argv.pop(0))
    if argv and not argv[0].startswith("-"):
        print(f"unknown benchmark {argv[0]!r}; available: {', '.join(known)}", file=sys.stderr)
        return 2
    status = 0
    for name in chosen or known:
        status = importlib.import_module(f"benches.{name}").main(list(argv)) or status
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
