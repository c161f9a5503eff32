"""A throwaway PostgreSQL server on loopback for tests (Debian's postgresql package; installed by the
Makefile where missing). initdb and the server run as the `postgres` user when the tests run as root
(PostgreSQL refuses root), in a temporary directory removed afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    username: str
    db_name: str

    def url(self, password: str = "") -> str:
        """A postgresql:// URL (trust authentication on loopback: a password is accepted and ignored)."""
        auth = f"{self.username}:{password}" if password else self.username
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.db_name}"

    def storage_config(self) -> dict:
        """The `postgres_db` block of dagster.yaml's `storage: postgres:` for this server."""
        return {
            # SQLAlchemy 2.1 defaults postgresql:// to psycopg 3, on which dagster-postgres's NOTIFY fails
            "scheme": "postgresql+psycopg2",
            "hostname": self.host,
            "port": self.port,
            "username": self.username,
            "password": "",
            "db_name": self.db_name,
        }


def pg_bin(name: str) -> str | None:
    for folder in BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_postgres(db_name: str = "dagster") -> Iterator[Postgres]:
    initdb, pg_ctl, psql = pg_bin("initdb"), pg_bin("pg_ctl"), pg_bin("psql")
    if not (initdb and pg_ctl and psql):
        raise RuntimeError(
            "PostgreSQL is not installed: run `make install-postgres` (apt-get install postgresql)"
        )
    root = Path(tempfile.mkdtemp(prefix="monitoring-pg-"))
    root.chmod(0o755)  # the postgres user must reach the data directory
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    log = root / "server.log"
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(log, "postgres", "postgres")
    try:
        subprocess.run(
            _as_server_user([initdb, "-D", str(data), "-U", "dagster", "--auth=trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off"
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]),
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 30
        while True:
            made = subprocess.run(
                [
                    psql,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "dagster",
                    "-d",
                    "postgres",
                    "-c",
                    f'CREATE DATABASE "{db_name}"',
                ],
                capture_output=True,
                text=True,
            )
            if made.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not accept connections: {made.stderr}{log.read_text()}")
            time.sleep(0.5)
        yield Postgres("127.0.0.1", port, "dagster", db_name)
    finally:
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
