"""STUB (Parquet only) until the format readers land: the interface ingest calls."""

# ruff: noqa: S608
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from monitoring_pipeline.pipeline.column_types import ROLE_TYPES, IngestError, accepted, type_ok
from monitoring_pipeline.storage import duck


@dataclass(frozen=True)
class Detected:
    format: str
    compression: str | None


@dataclass(frozen=True)
class StagedObject:
    uri: str
    detected: Detected
    rows: int
    bad_lines: int
    first_bad: str | None
    absent: tuple[str, ...]


def is_data_key(key: str, configured: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith((".", "_"))


def detect(uri: str, path: Path, configured: str) -> Detected:
    return Detected("parquet", None)


def create_stage(
    conn: Any, table: str, columns: Sequence[tuple[str, str]], constants: Sequence[tuple[str, str]]
) -> None:
    kept = [(c, ROLE_TYPES[role][1]) for c, role in columns] + [("source_object", "VARCHAR"), *constants]
    body = ", ".join(f"{duck.quote_identifier(c)} {t}" for c, t in kept)
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {duck.quote_identifier(table)} ({body})")


def stage_object(
    conn: Any,
    table: str,
    columns: Sequence[tuple[str, str]],
    uri: str,
    path: Path,
    detected: Detected,
    constants: Sequence[Any],
    skip_bad_lines: bool,
) -> StagedObject:
    try:
        rel = conn.read_parquet(str(path), hive_partitioning=False)
        found = {name: str(dtype) for name, dtype in zip(rel.columns, rel.types, strict=True)}
    except duckdb.Error as exc:
        raise IngestError(f"object {uri}: not a readable Parquet file ({exc})") from exc
    for column, role in columns:
        if column not in found:
            raise IngestError(f"object {uri}: missing column {column!r} (declared as {role})")
        if not type_ok(found[column], role):
            raise IngestError(f"object {uri}: column {column!r} has type {found[column]} ({accepted(role)})")
    casts = [f"CAST({duck.quote_identifier(c)} AS {ROLE_TYPES[r][1]})" for c, r in columns]
    marks = ", ".join(["?"] * (len(constants) + 1))
    before = conn.execute(f"SELECT count(*) FROM {duck.quote_identifier(table)}").fetchone()[0]
    conn.execute(
        f"INSERT INTO {duck.quote_identifier(table)} SELECT {', '.join(casts)}, {marks} "
        "FROM read_parquet(?, hive_partitioning = false)",
        [uri, *constants, str(path)],
    )
    after = conn.execute(f"SELECT count(*) FROM {duck.quote_identifier(table)}").fetchone()[0]
    return StagedObject(uri, detected, after - before, 0, None, ())
