"""A real, throwaway PostgreSQL server for tests: initdb a temp cluster, start it on a free
loopback port, stop and delete it afterwards.

Debian's `postgresql` package provides the binaries (`make test` installs it when missing). The
server refuses to run as root, so as root the cluster belongs to the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.bin = pg_bin()
        if self.bin is None:
            pytest.fail("PostgreSQL is not installed: run 'make test' (it installs Debian's postgresql "
                        "package) or 'apt-get install postgresql'")
        self.dir = Path(tempfile.mkdtemp(prefix="cdp-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> "PostgresServer":
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(self.bin / "initdb", "-D", self.data, "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8" if Path("/usr/lib/locale/C.utf8").exists() else "--locale=C")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.bin / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.dir / "log", "-w", "-t", "60", "start")
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "cdp")
        return self

    def url(self, db: str = "cdp") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def createdb(self, name: str) -> str:
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.url(name)

    def stop(self) -> None:
        self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """A running PostgreSQL server (session-wide); `postgres.createdb(name)` gives a fresh database."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


_counter = iter(range(1, 10_000))


@pytest.fixture
def pg_url(postgres):
    """A fresh, empty database on the test server."""
    return postgres.createdb(f"t{os.getpid()}_{next(_counter)}_{int(time.time() * 1000) % 100000}")
