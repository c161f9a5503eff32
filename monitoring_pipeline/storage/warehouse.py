"""The warehouse: one Parquet file per (table, model, hour) in a shared store, plus a DuckDB
catalog file of views over them.

Why not tables inside one .duckdb file: DuckDB allows one writing process per file, and any
reader blocks a writer, so hourly runs, backfills and an analyst would fail on "Could not set
lock on file". Here every run computes in its own in-memory DuckDB and publishes each hour as
one object (atomic rename / single PUT): concurrent runs never share a lock, a re-run replaces the
hour's object (never duplicates), and runs can execute on different machines when the data root
is on S3. The catalog file only holds view definitions; it is written when a view is missing or
stale and otherwise only opened read-only, so an analyst's open session never blocks a run.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_pipeline.storage import duck
from monitoring_pipeline.storage.object_store import ObjectStore, StoredObject, open_store

log = logging.getLogger(__name__)


class Warehouse:
    def __init__(self, catalog_path: str, tables_root: str, store: ObjectStore | None = None) -> None:
        self.catalog_path = catalog_path
        self.tables_root = tables_root.rstrip("/")
        self.store = store if store is not None else open_store(self.tables_root)
        self.on_s3 = self.tables_root.startswith("s3://")

    @staticmethod
    def partition_key(table: str, model: str, hour: datetime) -> str:
        hour = hour.astimezone(UTC)
        return f"{table}/{model}/dt={hour:%Y-%m-%d}/hour={hour:%H}.parquet"

    def table_glob(self, table: str, model: str = "*") -> str:
        """Every hourly partition file of a table, for one model or (default) all of them."""
        return f"{self.tables_root}/{table}/{model}/*/*.parquet"

    def fetch_hours(
        self, table: str, model: str, hours: Sequence[datetime], workdir: Path
    ) -> dict[datetime, Path]:
        """Local paths of the published partitions among `hours` (downloaded when on S3); missing
        hours are simply absent. One listing per day, not per hour."""
        found = self._present(table, model, hours)
        paths = self.store.fetch(list(found.values()), workdir)
        return {hour: path for hour, path in zip(found, paths, strict=True)}

    def hours_present(self, table: str, model: str, hours: Sequence[datetime]) -> set[datetime]:
        """The hours among `hours` that have a published partition: listing only, nothing downloaded."""
        return set(self._present(table, model, hours))

    def _present(self, table: str, model: str, hours: Sequence[datetime]) -> dict[datetime, StoredObject]:
        wanted = {self.partition_key(table, model, h): h for h in hours}
        found: dict[datetime, StoredObject] = {}
        for day in sorted({h.astimezone(UTC).date() for h in hours}):
            for o in self.store.list(f"{table}/{model}/dt={day:%Y-%m-%d}/"):
                if o.key in wanted:
                    found[wanted[o.key]] = o
        return found

    def select(self, glob: str, where: str = "true", params: Sequence[object] = ()) -> list[dict]:
        """Rows of the files matching `glob` (under tables_root) that satisfy `where` (a fixed clause
        with `?` placeholders for `params`), read straight from the files: no catalog, so no lock."""
        sql = f"SELECT * FROM read_parquet(?, union_by_name = true, hive_partitioning = false) WHERE {where}"  # noqa: S608 (callers pass fixed clauses; values are bound)
        with duck.connect(s3=self.on_s3) as conn:
            try:
                rel = conn.execute(sql, [f"{self.tables_root}/{glob}", *params])
            except duckdb.IOException:  # no file yet
                return []
            names = [d[0] for d in rel.description]
            return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]

    def fetch_object(self, key: str, workdir: Path) -> Path | None:
        found = self.store.head(key)
        return self.store.fetch([found], workdir)[0] if found else None

    def put_table(self, table: str, key: str, data: pa.Table) -> str:
        """Write `data` as one Parquet object at `key` (atomically replacing it) and make sure the catalog
        has the view `main.<table>` over every object of the table; return the object's URI."""
        with tempfile.TemporaryDirectory(prefix="monitoring-") as tmp:
            path = Path(tmp) / "part.parquet"
            pq.write_table(data, path, compression="zstd")
            uri = self.store.put_file(path, key)
        self.ensure_view("main", table, self.table_glob(table))
        return uri

    def put_partition(self, table: str, model: str, hour: datetime, data: pa.Table) -> str:
        """`put_table` at the (table, model, hour) partition's key: a re-run replaces the hour."""
        return self.put_table(table, self.partition_key(table, model, hour), data)

    def publish(self, table: str, model: str, hour: datetime, local_file: Path) -> str:
        """Replace the (table, model, hour) partition with local_file, atomically; return its URI."""
        return self.store.put_file(local_file, self.partition_key(table, model, hour))

    def connect(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        """The catalog for queries (what an analyst or a later asset uses)."""
        return duck.connect(self.catalog_path, read_only=read_only, s3=self.on_s3)

    def ensure_view(self, schema: str, table: str, glob: str, attempts: int = 20) -> bool:
        """Make `<schema>.<table>` a view over the files matching `glob`; True when it is current."""
        glob = duck.string_literal(glob)
        sql = (
            f"CREATE OR REPLACE VIEW {duck.quote_identifier(schema)}.{duck.quote_identifier(table)} AS "  # noqa: S608 (quoted identifiers, escaped literal: DuckDB cannot prepare DDL)
            f"SELECT * FROM read_parquet({glob}, union_by_name = true, hive_partitioning = false)"
        )
        if self._view_reads(schema, table, glob):
            return True
        Path(self.catalog_path).parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(attempts):
            try:
                with duck.connect(self.catalog_path, s3=self.on_s3) as conn:
                    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {duck.quote_identifier(schema)}")
                    conn.execute(sql)
                return True
            except duckdb.IOException as exc:  # another process holds the catalog: wait and retry
                if "lock" not in str(exc).lower():
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0))
        log.warning(
            "catalog %s is held open by another process; view %s.%s not refreshed yet "
            "(the data is published; the view is created by the next run)",
            self.catalog_path,
            schema,
            table,
        )
        return False

    def _view_reads(self, schema: str, table: str, glob_literal: str) -> bool:
        """Whether the catalog already has the view over this glob (checked without a write lock)."""
        if not Path(self.catalog_path).exists():
            return False
        try:
            with duck.connect(self.catalog_path, read_only=True) as conn:
                row = conn.execute(
                    "SELECT sql FROM duckdb_views() WHERE schema_name = ? AND view_name = ?", [schema, table]
                ).fetchone()
        except duckdb.IOException:  # a writer holds it right now
            return False
        return row is not None and glob_literal in row[0] and "hive_partitioning" in row[0]
