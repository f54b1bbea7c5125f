"""Real components on loopback, started by the tests: an S3 server (moto, from PyPI) and
PostgreSQL (Debian's package, in a temporary directory)."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server; credentials and endpoint in the environment, like AWS's."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port)
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint)
    yield endpoint
    proc.terminate()
    proc.wait(10)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def bucket(s3_server, request):
    name = "hep-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return name


@pytest.fixture
def proxy(s3_server):
    """A proxy in front of the S3 server that fails requests on purpose (faulty_proxy.py)."""
    from tests.lake.faulty_proxy import FaultyProxy

    faulty = FaultyProxy(int(s3_server.rsplit(":", 1)[1]))
    yield faulty
    faulty.close()


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of our own, on loopback in a temporary directory; yields its libpq
    connection string."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        pytest.skip("PostgreSQL is not installed (tools/install_test_deps.sh installs it as root)")
    bin_dir = Path(binaries[-1])
    # not under pytest's tmp_path: that is private to root, and postgres refuses to run as root
    top = Path(tempfile.mkdtemp(prefix="hyena-pg-"))
    data = top / "data"
    run_as = []
    if os.geteuid() == 0:
        shutil.chown(top, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]

    def run(*command: str) -> None:
        done = subprocess.run(run_as + list(command), capture_output=True, text=True)
        assert done.returncode == 0, f"{command[0]} failed: {done.stderr or done.stdout}"

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    port = free_port()
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(top / "log"), "-w", "-o",
        f"-p {port} -k {top} -c listen_addresses=127.0.0.1", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
            "lake")
        yield f"dbname=lake host=127.0.0.1 port={port} user=postgres"
    finally:
        subprocess.run(run_as + [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                 "stop"], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def lake_db(postgres):
    """A fresh PostgreSQL database for one test's DuckLake catalog."""
    import psycopg

    name = "lake_" + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return postgres.replace("dbname=lake", f"dbname={name}")
