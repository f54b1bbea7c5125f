"""Uses the live-daemon fixture of the hepserver tests."""
from tests.hepserver.conftest import start_daemon  # noqa: F401
