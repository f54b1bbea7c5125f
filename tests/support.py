"""Helpers shared by tests (importable as `tests.support`)."""
from __future__ import annotations

from pathlib import Path

# Property tests check logic, not the disk: where a RAM filesystem exists they run there, so
# thousands of fsyncs cost nothing. Crash and disk tests use real disks explicitly.
FAST_TMP = "/dev/shm" if Path("/dev/shm").is_dir() else None


def kill_at_random(cmd: list[str], rng, *, cwd: Path, env: dict | None = None,
                   after_ready: tuple[float, float] = (0.0, 1.0), early: float = 0.15,
                   ready_timeout: float = 120.0, ready_when=None) -> tuple[str, str]:
    """Run `cmd`, SIGKILL it at a random moment and return its (stdout, stderr).

    The child prints a line `ready` once its imports and set-up are done (or `ready_when()`, if
    given, turns true, polled); the kill lands a random time after that, so it hits the work
    being tested however slow start-up is on the machine. With probability `early` it lands
    before that instead (during start-up and recovery).
    """
    import signal
    import subprocess
    import tempfile
    import threading

    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err,
                                text=True)
        lines: list[str] = []

        def read() -> None:
            for line in proc.stdout:
                lines.append(line)
                if line.strip() == "ready":
                    ready.set()
            ready.set()  # ended (or was killed) without being ready

        def poll() -> None:
            while not ready.is_set() and proc.poll() is None:
                if condition():
                    ready.set()
                threading.Event().wait(0.02)
            ready.set()

        condition, ready = ready_when, threading.Event()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        if condition is not None:
            threading.Thread(target=poll, daemon=True).start()
        if rng.random() < early:
            ready.wait(rng.uniform(0.0, 1.0))
        else:
            assert ready.wait(ready_timeout), f"{cmd} was not ready in {ready_timeout} s"
            threading.Event().wait(rng.uniform(*after_ready))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        reader.join(30)
        err.seek(0)
        stderr = err.read()
        assert proc.returncode == -signal.SIGKILL, f"{cmd} ended by itself:\n{stderr}"
        return "".join(lines), stderr
