"""Shared fixtures. Every test gets fresh temporary directories; nothing touches the real /tmp/hyena.ipc."""
import os

# Must be set before numba is imported anywhere (see docs/operations.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
