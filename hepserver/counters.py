"""Counters of the capture daemon: what arrived, what was stored, what was dropped and why.

Workers count what they see and send their counters with every batch; the writer adds them up.
The HTTP metrics endpoint and the periodic log line read the totals.
"""
from __future__ import annotations

import threading
from collections import Counter

__all__ = ["Counters"]


class Counters:
    """Thread-safe named counters; `rejected:<reason>` counts packets dropped by reason."""

    def __init__(self) -> None:
        self._values: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def merge(self, values: dict[str, int]) -> None:
        with self._lock:
            self._values.update(values)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)

    def take(self) -> dict[str, int]:
        """The counts since the last take (what a worker ships with a batch)."""
        with self._lock:
            values, self._values = dict(self._values), Counter()
        return values

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._values[name]
