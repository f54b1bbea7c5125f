"""A live capture daemon on loopback, with a free port, for each test that asks for one."""
from __future__ import annotations

import time

import pytest

from hepserver.config import Config
from hepserver.daemon import CaptureDaemon


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture
def start_daemon(fast_tmp_path):
    daemons = []

    def start(**options) -> CaptureDaemon:
        settings = dict(host="127.0.0.1", port=0, data_dir=fast_tmp_path / "hyena", workers=2,
                        flush_interval=0.2, batch_delay=0.05, stats_interval=0,
                        parquet_dir=fast_tmp_path / "parquet", hyena_transport="off")
        settings.update(options)
        daemon = CaptureDaemon(Config(**settings))
        daemon.start()
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()
