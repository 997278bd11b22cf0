"""A throwaway PostgreSQL server for the tests: Debian's server binaries, a fresh cluster in a temporary
folder, loopback only, stopped and removed at the end of the session.

Without the binaries the PostgreSQL tests are skipped, unless CASEMIX_REQUIRE_POSTGRES=1 (``.ci/run``
sets it after installing Debian's ``postgresql``), which turns the skip into a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def server_binaries() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin (Debian), or the folder of an ``initdb`` on PATH."""
    def version(folder: str) -> int:
        name = Path(folder).parent.name
        return int(name) if name.isdigit() else 0

    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    if initdb := shutil.which("initdb"):
        folders.append(str(Path(initdb).resolve().parent))
    return next((Path(f) for f in folders if (Path(f) / "postgres").exists()), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """``initdb`` + ``pg_ctl start``; as root (PostgreSQL refuses to run as root) through ``runuser -u postgres``."""

    def __init__(self, binaries: Path):
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="casemix-pg-"))
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.folder, "postgres")

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.binaries / program), *args], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{program} failed: {done.stderr or done.stdout}")

    def start(self) -> str:
        data = str(self.folder / "data")
        self._run("initdb", "-D", data, "-U", "casemix", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", data, "-l", str(self.folder / "server.log"), "-o", options, "-w", "start")
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://casemix@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
