"""Results stores to run the storage tests against: a SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring_pipeline_tests.postgres import Postgres, running_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    with running_postgres("results") as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def results_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty results store of each kind (PostgreSQL: a new database on the shared server)."""
    if request.param == "sqlite":
        return str(tmp_path / "results.sqlite")
    return request.getfixturevalue("postgres_results_url")


@pytest.fixture
def postgres_results_url(postgres_server: Postgres) -> str:
    """A new, empty database on the shared PostgreSQL server, as a results store URL."""
    import sqlalchemy as sa

    server = postgres_server
    name = f"r_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.url().replace("postgresql://", "postgresql+psycopg2://"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return server.url(password="not-a-real-secret").rsplit("/", 1)[0] + f"/{name}"
