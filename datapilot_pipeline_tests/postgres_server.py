"""A throwaway PostgreSQL cluster for the tests: `initdb` + `pg_ctl` in a temp folder, on a free local port.

`scripts/install_services.sh` installs Debian's `postgresql`; without its binaries the tests that need a server
are skipped, except in CI (`$CI` set), where they fail. As root (containers), the server runs as the `postgres`
system user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def postgres_bindir() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: on PATH, else Debian's versioned folder (newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a superuser connection to a fresh local cluster, stopped and removed at the end of the session."""
    bindir = postgres_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing in CI: scripts/install_services.sh installs it")
        pytest.skip("PostgreSQL is not installed (scripts/install_services.sh installs it)")
    # Its own temp folder: pytest's is private to the user running the tests, and the server may be another.
    root = Path(tempfile.mkdtemp(prefix="datapilot-postgres-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (root, sockets):
            shutil.chown(path, "postgres", "postgres")
    port = _free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
    for args in ([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync"],
                 [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w",
                  "-t", "60", "start"]):
        proc = subprocess.run(_as_server_user(args), capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            pytest.fail(f"{Path(args[0]).name} failed: {(proc.stderr or proc.stdout).strip()}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def create_database(server: str, prefix: str = "test") -> str:
    """A new, empty database on the cluster at `server`; returns its URL."""
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server}/{name}"


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the session's cluster for one test."""
    return create_database(postgres_server)
