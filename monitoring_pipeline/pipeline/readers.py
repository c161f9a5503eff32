"""Read one prediction-log object, whatever the sink wrote (Parquet, Avro, JSON lines, CSV; the text
formats optionally gzip, often with no extension at all), into a DuckDB staging table whose declared
columns have their canonical types.

Typed sources (Parquet, Avro) are checked column by column as before anything is read. Text sources are
checked value by value, in SQL: DuckDB's own typed JSON reader turns a value it cannot convert into NULL,
which would make bad data look like missing data, so every declared JSON field is read as JSON and cast by
rules declared once here (`text_sources`). Nothing is inserted for an object that fails.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from monitoring_pipeline.pipeline import csv_source, text_sources
from monitoring_pipeline.pipeline.column_types import ROLE_TYPES, IngestError, accepted, type_ok
from monitoring_pipeline.pipeline.staging import Target
from monitoring_pipeline.storage import duck

# what a key's extension says of its content (".gz" stripped first; ".snappy.parquet" ends in ".parquet")
EXTENSIONS = {
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".avro": "avro",
}
EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")  # "my.stream-1-2026-..." (a Firehose name) has none
# in-flight or side files that sinks, Hadoop and S3 consoles leave next to the data
SIDE_SUFFIXES = (".tmp", ".temp", ".crc", "$folder$", ".inprogress", ".part", ".partial", ".lock", ".swp")
GZIP_MAGIC = b"\x1f\x8b"
MAGIC = {b"PAR1": "parquet", b"Obj\x01": "avro"}
HEAD_BYTES = 4096  # enough to see the first record's first byte after a gzip header or leading blanks


@dataclass(frozen=True)
class Detected:
    format: str  # "parquet" | "json" | "csv" | "avro"
    compression: str | None  # "gzip" or None (json/csv only)


@dataclass(frozen=True)
class StagedObject:
    uri: str
    detected: Detected
    rows: int  # rows inserted
    bad_lines: int  # json/csv lines skipped (0 unless skip_bad_lines)
    first_bad: str | None  # "object <uri>: line 7: not valid JSON (...)"
    absent: tuple[str, ...]  # declared columns present in no line of the object (json only)


def _split(name: str) -> tuple[str | None, bool]:
    """(the extension under an optional ".gz", lower case, or None; whether the name ends in ".gz")."""
    gz = name.lower().endswith(".gz")
    stem = name[:-3] if gz else name
    found = EXTENSION.search(stem)
    return (found.group(0).lower() if found else None), gz


def is_data_key(key: str, configured: str) -> bool:
    """Whether a listed key is a log object: never hidden (".x", "_SUCCESS") or side files; with
    `logs_format: auto` only known extensions or none at all (Firehose's names, sniffed when read)."""
    name = key.rsplit("/", 1)[-1]
    if not name or name.startswith((".", "_")) or name.lower().endswith(SIDE_SUFFIXES):
        return False
    if configured != "auto":
        return True
    extension, _ = _split(name)
    return extension is None or extension in EXTENSIONS


def _head(uri: str, path: Path) -> tuple[bytes, bool]:
    """The object's first bytes, decompressed when it is gzip; and whether it is."""
    with path.open("rb") as raw:
        head = raw.read(HEAD_BYTES)
    if not head.startswith(GZIP_MAGIC):
        return head, False
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, HEAD_BYTES), True
    except zlib.error as exc:
        raise IngestError(f"object {uri}: starts like gzip but does not decompress ({exc})") from exc


def detect(uri: str, path: Path, configured: str) -> Detected:
    """The object's format: the configured one, else its extension, else its first bytes."""
    head, gzipped = _head(uri, path)
    extension, gz_suffix = _split(uri.rsplit("/", 1)[-1])
    if configured != "auto":
        form = configured
    elif extension in EXTENSIONS:
        form = EXTENSIONS[extension]
    else:
        form = next((f for magic, f in MAGIC.items() if head.startswith(magic) and not gzipped), "")
        if not form and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
            form = "json"
        if not form:
            raise IngestError(
                f"object {uri}: cannot tell its format from its name or its first bytes; "
                "set `logs_format` (parquet, json, csv or avro) for this model"
            )
    compressed = form in ("json", "csv") and (gzipped or gz_suffix)
    return Detected(form, "gzip" if compressed else None)


def create_stage(
    conn: Any, table: str, columns: Sequence[tuple[str, str]], constants: Sequence[tuple[str, str]]
) -> None:
    """The staging table: declared columns (canonical types), source_object, then the caller's constants."""
    defs = [f"{duck.quote_identifier(c)} {ROLE_TYPES[role][1]}" for c, role in columns]
    defs.append("source_object VARCHAR")
    for name, kind in constants:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_ ]*", kind):
            raise ValueError(f"refusing unsafe SQL type {kind!r}")
        defs.append(f"{duck.quote_identifier(name)} {kind}")
    conn.execute(f"CREATE TEMP TABLE {duck.quote_identifier(table)} ({', '.join(defs)})")


def stage_object(
    conn: Any,
    table: str,
    columns: Sequence[tuple[str, str]],
    uri: str,
    path: Path,
    detected: Detected,
    constants: Sequence[Any],
    skip_bad_lines: bool,
    epoch_unit: str | None = None,
) -> StagedObject:
    """Validate the object and insert its rows (declared columns cast, source_object = uri, constants).
    `epoch_unit`: JSON / CSV timestamps that are numbers are read as epoch s / ms / us (else refused)."""
    target = Target(table, columns, uri, path, constants, epoch_unit)
    try:
        if detected.format in TYPED:
            return StagedObject(uri, detected, _stage_typed(conn, target, detected.format), 0, None, ())
        stage = text_sources.stage_json if detected.format == "json" else csv_source.stage_csv
        rows, bad, first, absent = stage(conn, target, detected.compression, skip_bad_lines)
        return StagedObject(uri, detected, rows, bad, first, absent)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise IngestError(f"object {uri}: cannot read it ({target.named(exc)})") from exc
    except duckdb.Error as exc:
        raise target.error(exc) from exc


def _field_type(found: dict[str, Any], name: str) -> Any:
    """A declared column's type in a typed source: the flat column "a.b" if there is one, else the struct
    field path a -> b; None when neither exists."""
    if name in found:
        return found[name]
    first, *rest = name.split(".")
    kind = found.get(first)
    for part in rest:
        if kind is None or kind.id != "struct":
            return None
        kind = dict(kind.children).get(part)
    return kind


def _typed_expression(found: dict[str, Any], name: str) -> str:
    if name in found:
        return duck.quote_identifier(name)
    first, *rest = name.split(".")
    return duck.quote_identifier(first) + "".join(f"[{duck.string_literal(p)}]" for p in rest)


TYPED = ("parquet", "avro")  # formats whose objects carry their column types


def typed_select(conn: Any, target: Target, form: str) -> tuple[str, list[Any]]:
    """Parquet or Avro: check every declared column is present with an accepted type; return the SELECT
    of the object's rows (declared columns cast, source_object, the constants) and its parameters."""
    if form == "avro":
        duck.load_extension(conn, "avro")
    reader = "read_parquet(?, hive_partitioning = false)" if form == "parquet" else "read_avro(?)"
    try:
        # LIMIT 0: a relation with parameters runs at once (0.13 s for a 125k-row object's rows): the
        # schema is all we want here
        rel = conn.sql(f"SELECT * FROM {reader} LIMIT 0", params=[str(target.path)])  # noqa: S608 (quoted names, constants)
        found = dict(zip(rel.columns, rel.types, strict=True))
    except duckdb.Error as exc:
        raise target.error(exc, f"not a readable {form.capitalize()} file: ") from exc
    casts = []
    for column, role in target.columns:
        kind = _field_type(found, column)
        if kind is None:
            raise IngestError(
                f"object {target.uri}: missing column {column!r} (declared as {role}); "
                f"columns present: {sorted(found)}"
            )
        if not type_ok(str(kind), role):
            raise IngestError(
                f"object {target.uri}: column {column!r} has type {kind}, but it is declared "
                f"{role} (accepted: {accepted(role)})"
            )
        casts.append(f"CAST({_typed_expression(found, column)} AS {ROLE_TYPES[role][1]})")
    extra = ", ".join(["?"] * (1 + len(target.constants)))
    select = f"SELECT {', '.join(casts)}, {extra} FROM {reader}"  # noqa: S608 (quoted names, constants)
    return select, [target.uri, *target.constants, str(target.path)]


def typed_source(
    conn: Any,
    columns: Sequence[tuple[str, str]],
    uri: str,
    path: Path,
    detected: Detected,
    constants: Sequence[Any],
) -> tuple[str, list[Any]]:
    """`typed_select` for a caller that reads typed objects in place, without staging them (the SELECT's
    columns are those of `create_stage`)."""
    return typed_select(conn, Target("", columns, uri, path, constants), detected.format)


def _stage_typed(conn: Any, target: Target, form: str) -> int:
    select, params = typed_select(conn, target, form)
    sql = f"INSERT INTO {duck.quote_identifier(target.table)} {select}"
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    except duckdb.Error as exc:
        raise target.error(exc, "cannot read its rows: ") from exc
