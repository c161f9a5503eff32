"""Load one UTC hour of a model's prediction logs from object storage into the warehouse.

No Dagster here: the asset calls `ingest_hour` and turns the result into metadata.
Every object is checked on its own (readable, declared columns present, compatible types) before
anything is written, so a bad object fails the hour with an error naming the object and the column,
and the previously published partition (if any) is left untouched. Parquet hours partitioned by arrival
(the hive default) take the paths below (copied, or cast in one query); any other format, a nested
column or event-time hours are read by `pipeline.arrivals` through `pipeline.readers`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline import arrivals, readers
from monitoring_pipeline.pipeline.column_types import (
    ROLE_TYPES,
    IngestError,
    expected_columns,
)
from monitoring_pipeline.storage import catalog, duck, fingerprints, label_index
from monitoring_pipeline.storage.object_store import ObjectStore
from monitoring_pipeline.storage.warehouse import Warehouse

# canonical warehouse type -> its Arrow type in the partition file (what `schema_matches` checks)
ARROW_TYPES = {"DOUBLE": pa.float64(), "VARCHAR": pa.string(), "TIMESTAMPTZ": pa.timestamp("us", tz="UTC")}
EXTRA_COLUMNS = (("partition_hour", "TIMESTAMPTZ"), ("source_object", "VARCHAR"))  # added to every row
ROW_GROUP_ROWS = 122_880  # DuckDB's own default: both ways of writing give the scans the same parallelism


@dataclass(frozen=True)
class IngestResult:
    model: str
    hour: datetime
    rows: int
    files: tuple[str, ...]  # every object read (event time: of all the hour's arrival folders)
    bytes: int  # of the hour's own folder's objects (each folder's once, however many hours read it)
    objects: int  # the hour's own folder's objects
    columns: tuple[str, ...]
    partition_uri: str
    cast: bool = True  # False: every column already had its canonical type and was copied as it is
    late_records: int | None = None  # partition_by event_time: see pipeline.arrivals
    early_records: int | None = None
    bad_lines: int = 0
    late_by_hour: tuple[tuple[datetime, str, int], ...] = ()  # (event hour, late | early, rows)

    @property
    def empty(self) -> bool:
        return self.rows == 0


def select_sql(model: ModelConfig, from_file: bool) -> str:
    """Cast every declared column to its canonical type; add the partition hour and source object.

    Parameters, in order: partition hour, source object URI, then (from_file) the local Parquet path.
    Without a file the query yields zero rows of the same schema (an empty or missing hour).
    """
    casts = []
    for col, role in expected_columns(model):
        value = duck.quote_identifier(col) if from_file else "NULL"
        casts.append(f"CAST({value} AS {ROLE_TYPES[role][1]}) AS {duck.quote_identifier(col)}")
    extra = ", ".join(f"CAST(? AS {kind}) AS {duck.quote_identifier(c)}" for c, kind in EXTRA_COLUMNS)
    source = "FROM read_parquet(?, hive_partitioning = false)" if from_file else "WHERE false"
    return f"SELECT {', '.join(casts)}, {extra} {source}"


def write_partition(
    conn: Any, model: ModelConfig, hour: datetime, sources: Sequence[tuple[str, Path]], target: Path
) -> int:
    """Write the hour's canonical rows (all sources, or none) to one local Parquet file; return rows."""
    if sources:  # UNION ALL, never UNION: duplicated rows are reported by checks, not silently dropped
        sql = " UNION ALL ".join([select_sql(model, from_file=True)] * len(sources))
        params = [value for uri, path in sources for value in (hour, uri, str(path))]
    else:
        sql, params = select_sql(model, from_file=False), [hour, ""]
    try:
        return duck.copy_to_parquet(conn, sql, params, target)
    except duckdb.Error as exc:  # name the objects, not our local temporary copies of them
        message = str(exc)
        for uri, path in sources:
            message = message.replace(str(path), uri)
        raise IngestError(
            f"cannot read the rows of {', '.join(uri for uri, _ in sources)}: {message}"
        ) from exc


def partition_schema(model: ModelConfig) -> pa.Schema:
    """The partition file's Arrow schema: the kept columns in warehouse order, then the added ones."""
    columns = [(c, ROLE_TYPES[role][1]) for c, role in expected_columns(model)] + list(EXTRA_COLUMNS)
    return pa.schema([(c, ARROW_TYPES[t]) for c, t in columns])


def _copyable(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether Arrow's cast from `source` only relabels (a string's offsets, a time zone's name: the
    instants are UTC either way), so the copy holds exactly the values DuckDB's CAST would give."""
    if pa.types.is_timestamp(target):
        return pa.types.is_timestamp(source) and source.unit == "us" and source.tz is not None
    if pa.types.is_string(target):
        return pa.types.is_string(source) or pa.types.is_large_string(source)
    return source.equals(target)


def canonical_already(model: ModelConfig, paths: Sequence[Path]) -> bool:
    """Every kept column of every (validated) object already has its canonical type."""
    schema = partition_schema(model)
    for path in paths:
        found = pq.read_schema(path)
        for column, _ in expected_columns(model):
            if not _copyable(found.field(column).type, schema.field(column).type):
                return False
    return True


def copy_partition(
    model: ModelConfig, hour: datetime, sources: Sequence[tuple[str, Path]], target: Path
) -> int:
    """`write_partition` for objects already canonical (`canonical_already`): their columns are copied
    with Arrow, object after object, nothing converted; categories (and the source object) go through
    as dictionaries, so neither reader nor writer hashes them. The file holds the same rows, Parquet
    types and row-group size as DuckDB's (no Arrow schema is stored: readers see plain strings); it
    costs about a third less CPU on a 1M-row hour (benchmarks/partition_bench.py). Return rows."""
    schema = partition_schema(model)
    columns = [c for c, _ in expected_columns(model)]
    coded = [f.name for f in schema if f.type == pa.string() and f.name != model.id_column]
    dictionary = pa.dictionary(pa.int32(), pa.string())
    written = pa.schema([f.with_type(dictionary) if f.name in coded else f for f in schema])
    rows = 0
    with pq.ParquetWriter(
        target, written, compression="zstd", use_dictionary=coded, store_schema=False
    ) as writer:
        for uri, path in sources:
            try:
                table = pq.read_table(path, columns=columns, partitioning=None, read_dictionary=coded)
            except (pa.ArrowException, OSError) as exc:  # name the object, not our local copy of it
                raise IngestError(
                    f"cannot read the rows of {uri}: {str(exc).replace(str(path), uri)}"
                ) from exc
            n = table.num_rows
            added = [
                pa.repeat(pa.scalar(hour, schema.field("partition_hour").type), n),
                pa.DictionaryArray.from_arrays(pa.repeat(pa.scalar(0, pa.int32()), n), pa.array([uri])),
            ]
            kept = [table.column(c).cast(written.field(c).type) for c in columns]
            writer.write_table(
                pa.Table.from_arrays(kept + added, schema=written), row_group_size=ROW_GROUP_ROWS
            )
            rows += n
    return rows


def _typed_parquet_only(model: ModelConfig, detected: Sequence[readers.Detected]) -> bool:
    """The hour can take the Parquet path (validated, copied or cast in one query): partitioned by arrival,
    every object Parquet, no nested column."""
    if model.event_time or any("." in c for c, _ in expected_columns(model)):
        return False
    return all(d.format == "parquet" for d in detected)


def ingest_hour(model: ModelConfig, hour: datetime, logs: ObjectStore, warehouse: Warehouse) -> IngestResult:
    """Load the hour's objects into the warehouse, replacing any earlier load of the same hour."""
    found = arrivals.hour_objects(model, logs, hour)
    objects = [o for o, _ in found]
    outside = arrivals.Outside()
    with tempfile.TemporaryDirectory(prefix="monitoring-ingest-") as tmp, duck.scratch() as conn:
        paths = logs.fetch(objects)
        detected = [readers.detect(o.uri, p, model.logs_format) for o, p in zip(objects, paths, strict=True)]
        staged = Path(tmp) / "partition.parquet"
        copy = False
        if _typed_parquet_only(model, detected):
            columns = expected_columns(model)
            for obj, path, found_as in zip(objects, paths, detected, strict=True):  # every object first
                readers.typed_source(conn, columns, obj.uri, path, found_as, [])  # the check, not its SELECT
            sources = [(o.uri, p) for o, p in zip(objects, paths, strict=True)]
            copy = bool(sources) and canonical_already(model, paths)
            rows = (copy_partition if copy else partial(write_partition, conn))(model, hour, sources, staged)
        else:
            rows, outside = arrivals.read_hour(conn, model, hour, found, paths, detected, staged)
        ids = fingerprints.of_file(conn, staged, model.id_column) if model.labels is not None else None
        # labels that arrived before these predictions (late logs, a re-load) are linked to them now
        links = label_index.links_of_hour(model, hour, ids, warehouse) if ids is not None else []
        uri = warehouse.publish(catalog.prediction_logs, model.name, hour, staged)
    newest = max((o.modified for o in objects if o.modified is not None), default=None)
    own = [o for o, folder in found if folder == hour]
    fact = {"model": model.name, "partition_hour": hour, "rows": rows, "objects": len(own)}
    fact |= {
        "bytes": sum(o.size for o in own),
        "newest_object_at": newest,
        "loaded_at": datetime.now(UTC),
        "bad_lines": outside.bad_lines,
    }
    if model.event_time:
        fact |= {"late_records": outside.late, "early_records": outside.early}
        fact["arrival_objects"] = len(objects)
    late_rows = [
        {"model": model.name, "partition_hour": hour, "event_hour": e, "kind": kind, "rows": n}
        for e, kind, n in outside.by_event_hour
    ]
    match = {"model": model.name, "partition_hour": hour}
    with warehouse.results.transaction() as txn:
        warehouse.results.upsert(catalog.hour_facts, [fact], conn=txn)
        warehouse.results.replace(catalog.late_arrivals, match, late_rows, conn=txn)
        if ids is not None:  # the labels' id -> prediction-hour lookup, both ways
            row = label_index.id_row(model.name, hour, ids)
            warehouse.results.upsert(catalog.prediction_ids, [row], conn=txn)
            warehouse.results.replace(catalog.label_links, match, links, conn=txn)
    return IngestResult(
        model=model.name,
        hour=hour,
        rows=rows,
        files=tuple(o.uri for o in objects),
        bytes=sum(o.size for o in own),
        objects=len(own),
        columns=tuple(col for col, _ in expected_columns(model)),
        partition_uri=uri,
        cast=not copy,
        late_records=outside.late if model.event_time else None,
        early_records=outside.early if model.event_time else None,
        bad_lines=outside.bad_lines,
        late_by_hour=outside.by_event_hour,
    )
