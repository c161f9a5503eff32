"""The storage-touching tests' view of where things live, the same on the local store and on S3.

A test asks the `stores` fixture (conftest) for its logs, labels and warehouse, and reads or changes
objects through the pipeline's own `ObjectStore` API, so one test body runs on a folder and on moto's S3
server. The demo is uploaded to S3 once per session and, like `demo_logs`, is read-only: a test that
changes logs copies the hours it changes into its own location first (`copy_hour`).
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq

from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline.storage import catalog, layout
from monitoring_pipeline.storage.object_store import ObjectStore, StoredObject, open_store

DEMO_FOLDERS = ("predictions", "labels", "reference")


def upload_tree(local: Path, root: str) -> None:
    """Every file under `local` to the same relative keys under `root`."""
    store = open_store(root)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.put_file(path, path.relative_to(local).as_posix())


def put_object(location: str, key: str, data: bytes) -> str:
    """Write `data` as the object `key` of a location (a folder or S3); return its URI."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "object"
        path.write_bytes(data)
        return open_store(location).put_file(path, key)


@dataclass(frozen=True)
class Stores:
    kind: str  # "local" | "s3"
    root: str  # this test's own location: a temporary folder or s3://bucket/<test>
    demo: str  # the demo's logs (read-only); its labels and reference files sit beside them
    folder: Path  # this test's local folder (monitors file, results store)

    @property
    def data(self) -> str:
        return f"{self.root}/warehouse"

    def config(self, logs: str | None = None, **kwargs: object) -> MonitorsConfig:
        """The repository's monitors file over `logs` (default: the demo) with this test's warehouse."""
        from monitoring_pipeline_tests.conftest import write_config

        return load_config(write_config(self.folder, logs or self.demo, data=self.data, **kwargs))

    # ------------------------------------------------------------------------------------------ objects

    def hour_objects(self, location: str, model: str, hour: datetime) -> list[StoredObject]:
        prefix = layout.hour_prefix(model, hour)
        return [o for o in open_store(location).list(prefix) if layout.is_data_object(o.key)]

    def copy_hour(self, model: str, hour: datetime, logs: str | None = None) -> str:
        """Copy the demo's objects of one hour into this test's own logs; return the logs' location."""
        logs = logs or f"{self.root}/logs"
        source, target = open_store(self.demo), open_store(logs)
        objects = self.hour_objects(self.demo, model, hour)
        for obj, path in zip(objects, source.fetch(objects), strict=True):
            target.put_file(path, obj.key)
        return logs

    def put(self, location: str, key: str, data: bytes) -> str:
        return put_object(location, key, data)

    def read(self, location: str, key: str) -> bytes:
        store = open_store(location)
        found = store.head(key)
        assert found is not None, f"no object {store.uri(key)}"
        return store.fetch([found])[0].read_bytes()

    def delete(self, location: str, key: str) -> None:
        open_store(location).delete(key)

    def source_rows(self, location: str, model: str, hour: datetime) -> int:
        """Rows in the hour's source objects, counted by pyarrow (independently of DuckDB)."""
        return sum(
            pq.ParquetFile(io.BytesIO(self.read(location, o.key))).metadata.num_rows
            for o in self.hour_objects(location, model, hour)
        )

    def partitions(self, config: MonitorsConfig, model: str) -> list[StoredObject]:
        """The model's published `prediction_logs` objects (each with its size, time and entity tag)."""
        store: ObjectStore = open_store(config.warehouse.tables_root)
        return store.list(catalog.prediction_logs.model_prefix(model))
