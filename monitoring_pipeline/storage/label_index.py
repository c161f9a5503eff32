"""Which prediction hour each label belongs to, by prediction id, without reading logs (no Dagster here).

Labels arrive hours after their predictions, and either side can load first or load again (a late logs
object re-ingests its hour; a corrected label object re-loads its arrival hour). Both sides keep one index:
- `prediction_ids`: each prediction hour's ids as fingerprints (`storage.fingerprints`), written by ingest;
- `label_links`: for a (prediction hour, arrival hour) pair, how many labels of the arrival hour carry an
  id of the prediction hour (an id logged in two hours counts in both).

Loading an arrival hour links its labels to the window's prediction hours (`match_labels`); loading a
prediction hour links it to the arrival hours already loaded after it (`links_of_hour`), so the order in
which the two land never loses a label. Performance reads only the arrival hours linked to its hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.storage import catalog, duck, fingerprints
from monitoring_pipeline.storage.warehouse import Warehouse

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def id_row(model: str, hour: datetime, ids: np.ndarray) -> dict[str, Any]:
    """The `prediction_ids` row of an hour, from its sorted distinct fingerprints."""
    return {"model": model, "partition_hour": hour, "ids": len(ids), "fingerprints": fingerprints.pack(ids)}


def label_window(model: ModelConfig, arrival: datetime) -> list[datetime]:
    """The prediction hours whose labels may arrive in `arrival`: it and the `max_delay_hours` before."""
    assert model.labels is not None
    return [arrival - timedelta(hours=k) for k in range(model.labels.max_delay_hours + 1)]


def arrival_window(model: ModelConfig, hour: datetime) -> list[datetime]:
    """The arrival hours that may hold labels of prediction hour `hour`."""
    assert model.labels is not None
    return [hour + timedelta(hours=k) for k in range(model.labels.max_delay_hours + 1)]


def prediction_index(
    model: ModelConfig, hours: Sequence[datetime], warehouse: Warehouse
) -> dict[datetime, np.ndarray]:
    """The id fingerprints of the loaded hours among `hours`, by index from the results store. A loaded hour
    without them (older than their retention, or loaded before they existed) has them rebuilt from its logs
    and stored (never over a row a concurrent ingest wrote meanwhile), so only a backfill of old labels ever
    reads logs here."""
    stored = {
        r["partition_hour"]: fingerprints.unpack(r["fingerprints"])
        for r in warehouse.results.hour_rows(catalog.prediction_ids, model.name, hours)
    }
    facts = warehouse.results.hour_rows(catalog.hour_facts, model.name, hours, "partition_hour", "rows")
    missing = [f["partition_hour"] for f in facts if f["rows"] and f["partition_hour"] not in stored]
    if missing:
        rebuilt = []
        with duck.scratch() as conn:
            for at, path in warehouse.fetch_hours(catalog.prediction_logs, model.name, missing).items():
                stored[at] = fingerprints.of_file(conn, path, model.id_column)
                rebuilt.append(id_row(model.name, at, stored[at]))
        warehouse.results.insert_missing(catalog.prediction_ids, rebuilt)
    return stored


def match_labels(
    model: ModelConfig, arrival: datetime, probe: np.ndarray, known: np.ndarray, warehouse: Warehouse
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """For the labels of an arrival hour (their id fingerprints `probe`; `known`: the id is not null):
    each label's prediction hour, the latest holding its id, in microseconds since the epoch (-1: none),
    and the hour's `label_links` rows."""
    latest = np.full(len(probe), -1, dtype=np.int64)
    links: list[dict[str, Any]] = []
    if not len(probe):
        return latest, links
    for at, stored in sorted(prediction_index(model, label_window(model, arrival), warehouse).items()):
        found = fingerprints.contains(stored, probe) & known
        if found.any():
            links.append(link(model.name, at, arrival, int(found.sum())))
            latest[found] = (at - EPOCH) // MICROSECOND
    return latest, links


# a published labels object's ids as fingerprints, and the source objects they came from
STORED_LABELS_SQL = (
    f"SELECT {fingerprints.sql('prediction_id')} AS fingerprint, source_object "  # noqa: S608 (a constant)
    "FROM read_parquet(?, hive_partitioning = false)"
)


def stored_labels(conn: Any, path: Path) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """(fingerprints, known, the rows read) of a published labels object, one entry per label."""
    read = conn.execute(STORED_LABELS_SQL, [str(path)]).to_arrow_table()
    return (*fingerprints.probe(read.column("fingerprint")), read)


def link(model: str, hour: datetime, arrival: datetime, labels: int) -> dict[str, Any]:
    return {"model": model, "partition_hour": hour, "arrival_hour": arrival, "labels": labels}


def loaded_arrivals(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> list[datetime]:
    """The arrival hours within `max_delay_hours` after `hour` whose labels are loaded."""
    window = arrival_window(model, hour)
    rows = warehouse.results.hour_rows(catalog.label_facts, model.name, window, "partition_hour")
    return [r["partition_hour"] for r in rows]


def links_of_hour(
    model: ModelConfig, hour: datetime, ids: np.ndarray, warehouse: Warehouse
) -> list[dict[str, Any]]:
    """The `label_links` of prediction hour `hour` (its id fingerprints `ids`) to the arrival hours already
    loaded after it: what loading (or re-loading) the hour must write. Reads those hours' label objects
    (none in an hourly run: its labels load after its logs)."""
    arrivals = loaded_arrivals(model, hour, warehouse)
    if not arrivals or not len(ids):
        return []
    links = []
    with duck.scratch() as conn:
        for arrival, path in warehouse.fetch_hours(catalog.labels, model.name, arrivals).items():
            probe, known, _ = stored_labels(conn, path)
            found = int((fingerprints.contains(ids, probe) & known).sum())
            if found:
                links.append(link(model.name, hour, arrival, found))
    return links
