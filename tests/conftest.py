"""Shared fixtures. Every test gets fresh temporary directories; nothing touches the real /tmp/hyena.ipc."""
import os

# Must be set before numba is imported anywhere (see docs/operations.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import tempfile
from pathlib import Path

import pytest

from tests.support import FAST_TMP


@pytest.fixture
def fast_tmp_path():
    with tempfile.TemporaryDirectory(prefix="hyena-test-", dir=FAST_TMP) as tmp:
        yield Path(tmp)
