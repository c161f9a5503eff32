"""The storage tests' results stores (a SQLite file and a real PostgreSQL server), for the report's reads."""

from monitoring_pipeline_tests.storage.conftest import (  # noqa: F401
    postgres_results_url,
    postgres_server,
    results_url,
)
