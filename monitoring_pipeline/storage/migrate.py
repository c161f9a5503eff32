"""`monitoring-pipeline migrate`: convert a warehouse written by the previous release (no Dagster here).

The previous release kept row-level results as Parquet objects too: `check_results/<model>/<check>/<run>`
(every evaluation), `alerts/<model>/dt=.../<time>-<id>` (one row per delivery-state change),
`drift_metrics`, `drift_summary`, `model_performance` and `model_performance_history` per hour. This reads
each of them once, per model, and upserts the rows into the results store by key, so running it twice
changes nothing. Per-hour objects (logs, profiles, references, labels, reports) keep their layout and are
read as they are; `hour_facts` is rebuilt from the loaded hours' logs, and the labels' lookups
(`label_facts`, `label_links`) from the labels objects (the prediction id fingerprints are rebuilt by the
first labels run that needs them). The legacy objects are left in place
(nothing reads them any more): delete them once satisfied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import duckdb
import sqlalchemy as sa

from monitoring_pipeline.config import ModelConfig, MonitorsConfig
from monitoring_pipeline.storage import catalog, duck, label_index, layout
from monitoring_pipeline.storage.warehouse import Warehouse

Row = dict[str, Any]


def _json_list(value: Any) -> str | None:
    return None if value is None else json.dumps(list(value), default=str)


def _rows_or_none(wh: Warehouse, sql: str, pattern: str) -> list[Row]:
    """`sql` over the objects matching `pattern` (under the warehouse root, bound as the only parameter);
    none when there are no such objects. Any other failure (a denied read, a torn object) is an error."""
    with duck.connect(s3=wh.on_s3) as conn:
        try:
            rel = conn.execute(sql, [f"{wh.tables_root}/{pattern}"])
        except duckdb.IOException as exc:
            if "No files found" in str(exc):
                return []
            raise
        names = [d[0] for d in rel.description]
        return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def _legacy(wh: Warehouse, pattern: str) -> list[Row]:
    """Every row of the legacy objects matching `pattern`."""
    sql = "SELECT * FROM read_parquet(?, union_by_name = true, hive_partitioning = false)"
    return _rows_or_none(wh, sql, pattern)


def _latest_per_key(table: sa.Table, rows: list[Row], newest: str) -> list[Row]:
    keys = catalog.key_columns(table)
    latest: dict[tuple, Row] = {}
    for row in sorted(rows, key=lambda r: r[newest]):
        latest[tuple(row[k] for k in keys)] = row
    return list(latest.values())


def _alerts(rows: list[Row]) -> list[Row]:
    """One row per (alert, sink): its details from the row that had them, its state from the latest."""
    merged: dict[tuple, Row] = {}
    for row in sorted(rows, key=lambda r: r["updated_at"]):
        key = (row["alert_id"], row["sink"])
        base = merged.get(key, {})
        details = {k: v for k, v in row.items() if v is not None or k in catalog.ALERT_DELIVERY_COLUMNS}
        merged[key] = base | details
    return list(merged.values())


def _hour_facts(wh: Warehouse, model: str) -> list[Row]:
    sql = (
        "SELECT partition_hour, count(*) AS rows, count(DISTINCT source_object) AS objects "
        "FROM read_parquet(?, hive_partitioning = false) GROUP BY 1"
    )
    found = _rows_or_none(wh, sql, catalog.prediction_logs.analyst_glob(model))
    return [{"model": model} | r for r in found]


def _label_lookups(wh: Warehouse, model: ModelConfig) -> dict[sa.Table, list[Row]]:
    """`label_facts` (one row per loaded arrival hour, empty ones too) and `label_links` of the labels
    objects, which this release reads as they are: matched against the prediction ids exactly as a load
    of the arrival hour does (rebuilding the window's id fingerprints from the logs once)."""
    facts, links = [], []
    objects = wh.store.list(catalog.labels.model_prefix(model.name))
    paths = wh.store.fetch(objects)
    with duck.connect() as conn:
        for obj, path in zip(objects, paths, strict=True):
            arrival = layout.hour_from_key(obj.key)
            if arrival is None:
                continue
            probe, known, read = label_index.stored_labels(conn, path)
            latest, found = label_index.match_labels(model, arrival, probe, known, wh)
            matched = int((latest >= 0).sum())
            sources = set(read.column("source_object").drop_null().to_pylist())
            fact = {"model": model.name, "partition_hour": arrival, "rows": len(probe), "matched": matched}
            fact |= {"unknown_ids": len(probe) - matched, "objects": len(sources), "bytes": None}
            facts.append(fact | {"loaded_at": None})
            links += found
    return {catalog.label_facts: facts, catalog.label_links: links}


# legacy table -> (the result tables it feeds, a conversion of its rows)
CONVERSIONS: dict[str, Callable[[list[Row]], dict[sa.Table, list[Row]]]] = {
    "check_results": lambda rows: {
        catalog.check_history: rows,
        catalog.check_results: _latest_per_key(catalog.check_results, rows, "evaluated_at"),
    },
    "alerts": lambda rows: {catalog.alerts: _alerts(rows)},
    "drift_metrics": lambda rows: {catalog.drift_metrics: rows},
    "drift_summary": lambda rows: {
        catalog.drift_summary: [r | {"drifted_features": _json_list(r["drifted_features"])} for r in rows]
    },
    "model_performance": lambda rows: {
        catalog.model_performance: [r | {"calibration": _json_list(r["calibration"])} for r in rows]
    },
    "model_performance_history": lambda rows: {
        catalog.model_performance_history: [r | {"calibration": _json_list(r["calibration"])} for r in rows]
    },
}


def migrate(config: MonitorsConfig, wh: Warehouse) -> dict[str, int]:
    """Rows upserted per result table, over every model of the config."""
    counts: dict[str, int] = {t.name: 0 for t in catalog.RESULT_TABLES}
    for model in config.models:
        for legacy, convert in CONVERSIONS.items():
            rows = _legacy(wh, f"{legacy}/{model.name}/*/*.parquet")
            for table, converted in convert(rows).items():
                newer = "evaluated_at" if table is catalog.check_results else None  # keep later evaluations
                counts[table.name] += wh.results.upsert(table, converted, newer=newer)
        counts[catalog.hour_facts.name] += wh.results.upsert(catalog.hour_facts, _hour_facts(wh, model.name))
        if model.labels is not None:  # never over what a load of this release wrote
            for table, rows in _label_lookups(wh, model).items():
                counts[table.name] += wh.results.insert_missing(table, rows)
    return counts
