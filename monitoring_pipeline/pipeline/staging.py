"""What every format's reader needs to stage one object: the target table, the declared columns, the
object's URI (named in every error, never our local copy) and the constants added to each row."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import duckdb

from monitoring_pipeline.pipeline.column_types import IngestError
from monitoring_pipeline.storage import duck


@dataclass(frozen=True)
class Target:
    """Where and what one object is staged: shared by every format's reader."""

    table: str
    columns: Sequence[tuple[str, str]]
    uri: str
    path: Path
    constants: Sequence[Any]
    epoch_unit: str | None = None  # the model's timestamp_epoch_unit: numbers read as epoch timestamps

    def named(self, exc: BaseException) -> str:
        """An error's text naming the object, never our local copy of it."""
        return str(exc).replace(str(self.path), self.uri)

    def error(self, exc: duckdb.Error, what: str = "") -> IngestError:
        return IngestError(f"object {self.uri}: {what}{self.named(exc)}")

    def insert(self, conn: Any, select: str, source: str, params: Sequence[Any] = ()) -> int:
        """INSERT the selected declared columns with source_object and constants; return rows."""
        extra = ", ".join(["?"] * (1 + len(self.constants)))
        sql = f"INSERT INTO {duck.quote_identifier(self.table)} SELECT {select}, {extra} FROM {source}"  # noqa: S608 (quoted names, constants)
        return int(conn.execute(sql, [self.uri, *self.constants, *params]).fetchone()[0])

    def open(self, compression: str | None) -> IO[bytes]:
        """The object's bytes, decompressed."""
        return gzip.open(self.path, "rb") if compression == "gzip" else self.path.open("rb")


MICROSECONDS = {"s": 1_000_000, "ms": 1_000, "us": 1}


def epoch_sql(text: str, unit: str | None) -> str:
    """SQL: a number's text as a TIMESTAMPTZ `unit`s after 1970-01-01 UTC (NULL when it is no number, or
    when no unit is configured). Via whole microseconds, exact for every unit (a double holds them)."""
    if unit is None:
        return "NULL::TIMESTAMPTZ"
    micros = f"CAST(round(TRY_CAST({text} AS DOUBLE) * {MICROSECONDS[unit]}) AS BIGINT)"
    return f"CAST(make_timestamp({micros}) AS TIMESTAMPTZ)"
