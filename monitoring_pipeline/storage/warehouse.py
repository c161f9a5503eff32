"""The warehouse: per-hour objects in a shared store (a folder or S3) and row-level results in the
results store (SQLite or PostgreSQL), both declared in `storage.catalog`.

Why this split: DuckDB allows one writing process per database file and a reader blocks a writer, and a
glob over per-hour files costs more with every hour of history. So every run computes in its own
in-memory DuckDB; per-hour data is published as one object per (table, model, hour) by atomic rename or
single PUT and read back by its exact key; results are upserts by key in one transaction, read by index.
Concurrent runs share no lock, a re-run replaces, runs can execute on many machines (objects on S3,
results on PostgreSQL), and an analyst's session (`connect`) is an in-memory DuckDB that attaches the
results read-only: it never holds a lock a writer needs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_pipeline.storage.catalog import ObjectTable
from monitoring_pipeline.storage.object_store import ListingSnapshot, ObjectStore, StoredObject, open_store
from monitoring_pipeline.storage.results import ResultsStore

if TYPE_CHECKING:
    from monitoring_pipeline.config import WarehouseConfig


class Warehouse:
    def __init__(self, results: str, tables_root: str, store: ObjectStore | None = None) -> None:
        self.results = ResultsStore(results)
        self.tables_root = tables_root.rstrip("/")
        self.store = store if store is not None else open_store(self.tables_root)
        self.on_s3 = self.tables_root.startswith("s3://")

    @classmethod
    def open(cls, config: WarehouseConfig) -> Warehouse:
        """From the config's `warehouse` section."""
        return cls(config.results, config.tables_root)

    @classmethod
    def for_step(cls, results: str, tables_root: str) -> Warehouse:
        """For one step of a run: each listing of the objects is taken once (ListingSnapshot)."""
        return cls(results, tables_root, ListingSnapshot(open_store(tables_root)))

    # ------------------------------------------------------------------------- per-hour objects

    def fetch_hours(self, table: ObjectTable, model: str, hours: Sequence[datetime]) -> dict[datetime, Path]:
        """Local paths of the published objects among `hours` (on S3: downloaded once per process and
        version); missing hours are absent. One listing per day of the hours, never of the table."""
        found = self._present(table, model, hours)
        paths = self.store.fetch(list(found.values()))
        return {hour: path for hour, path in zip(found, paths, strict=True)}

    def hours_present(self, table: ObjectTable, model: str, hours: Sequence[datetime]) -> set[datetime]:
        """The hours among `hours` that have a published object: listing only, nothing downloaded."""
        return set(self._present(table, model, hours))

    def _present(
        self, table: ObjectTable, model: str, hours: Sequence[datetime]
    ) -> dict[datetime, StoredObject]:
        wanted = {table.key(model, h): h for h in hours}
        found: dict[datetime, StoredObject] = {}
        for day in sorted({h.astimezone(UTC).date() for h in hours}):
            for o in self.store.list(table.day_prefix(model, day)):
                if o.key in wanted:
                    found[wanted[o.key]] = o
        return dict(sorted(found.items()))

    def put_object(self, table: ObjectTable, model: str, hour: datetime, data: pa.Table) -> str:
        """Write `data` as the (table, model, hour) object, atomically replacing it; return its URI."""
        with tempfile.TemporaryDirectory(prefix="monitoring-") as tmp:
            path = Path(tmp) / "part.parquet"
            pq.write_table(data, path, compression="zstd")
            return self.publish(table, model, hour, path)

    def publish(self, table: ObjectTable, model: str, hour: datetime, local_file: Path) -> str:
        """Replace the (table, model, hour) object with local_file, atomically; return its URI.
        The file is handed over (moved where it can be, not copied): the caller must not use it again."""
        return self.store.put_file(local_file, table.key(model, hour), move=True)

    def connect(self, models: Sequence[str] = (), for_query: str | None = None) -> Any:
        """An analyst's read-only session over every table, with `<model>.<object table>` views for
        `models` (only those `for_query` names, when given; see storage.sql_session)."""
        from monitoring_pipeline.storage.sql_session import open_session

        return open_session(self, models, for_query)
