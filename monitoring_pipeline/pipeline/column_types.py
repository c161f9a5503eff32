"""What a declared column's role accepts from a source and what the warehouse keeps it as, declared once
for every reader of prediction logs (Parquet, Avro, JSON lines, CSV) and of labels."""

from __future__ import annotations

from monitoring_pipeline.config import ModelConfig

INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}
NUMERIC_TYPES = INTEGER_TYPES | {"FLOAT", "DOUBLE"}
TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}
# role -> (accepted source types of a typed source such as Parquet, canonical warehouse type)
ROLE_TYPES: dict[str, tuple[set[str], str]] = {
    "numerical": (NUMERIC_TYPES, "DOUBLE"),
    "categorical": ({"VARCHAR", "BOOLEAN"} | INTEGER_TYPES, "VARCHAR"),
    "timestamp": (TIMESTAMP_TYPES, "TIMESTAMPTZ"),
    "id": ({"VARCHAR", "UUID"} | INTEGER_TYPES, "VARCHAR"),
}


class IngestError(ValueError):
    """The hour cannot be loaded; the message names the object and, where it applies, the column."""


def type_ok(source_type: str, role: str) -> bool:
    """Whether a typed source's column (DuckDB's type name) can be cast to the role's canonical type."""
    accepted, _ = ROLE_TYPES[role]
    return source_type in accepted or (role == "numerical" and source_type.startswith("DECIMAL"))


def accepted(role: str) -> str:
    """The source types a role accepts, for error messages."""
    types, _ = ROLE_TYPES[role]
    return ", ".join(sorted(types)) + (", DECIMAL" if role == "numerical" else "")


def expected_columns(model: ModelConfig) -> list[tuple[str, str]]:
    """(column, role) for every column the warehouse keeps, in warehouse order."""
    return [(model.timestamp_column, "timestamp"), (model.id_column, "id")] + [
        (c.name, c.kind) for c in model.monitored_columns
    ]
