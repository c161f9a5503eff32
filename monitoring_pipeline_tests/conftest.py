"""Shared fixtures: demo logs seeded once per session, and per-test monitors files and warehouses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from monitoring_pipeline.config import REPO_ROOT, MonitorsConfig, load_config
from monitoring_pipeline.demo import DEMO_MODELS, demo_hours, seed_demo, training_frame, write_training_file
from monitoring_pipeline.storage.object_store import LocalObjectStore
from monitoring_pipeline_tests.s3 import BUCKET, S3Server, running_s3
from monitoring_pipeline_tests.stores import DEMO_FOLDERS, Stores, upload_tree

DEMO_END = datetime(2026, 11, 24, 0, tzinfo=UTC)
HOURS = demo_hours(DEMO_END)


def demo_index(hour: datetime) -> int:
    """A demo hour's number, counted from the oldest (0), as the incidents are."""
    return int((hour - HOURS[0]) / timedelta(hours=1))


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never touch the developer's data/ folder or their MONITORING_* settings."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("MONITORING_")}
    os.environ["DAGSTER_HOME"] = str(tmp_path_factory.mktemp("dagster_home"))
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def demo_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full demo (96 hours, every demo model) in a local object store. Treat as read-only."""
    root = tmp_path_factory.mktemp("object_store") / "predictions"
    store = LocalObjectStore(root)
    labels = LocalObjectStore(root.parent / "labels")
    models = DEMO_MODELS
    seed_demo(dict.fromkeys(models, store), end=DEMO_END, labels=dict.fromkeys(models, labels))
    training = training_frame("delivery_time_regressor", end=DEMO_END)
    write_training_file(str(root.parent / "reference" / "delivery_time_regressor_training.parquet"), training)
    return root


def write_config(
    folder: Path,
    logs: str,
    data: str | None = None,
    top: dict | None = None,
    labels: str | None = None,
    **model_overrides: object,
) -> Path:
    """A copy of the repository's monitors.yaml pointing at `logs`, with its warehouse and alert log in
    `folder`; `top` overrides top-level fields, `model_overrides` fields of every model. `labels`: where
    the labels are (default: beside local logs); "" drops them."""
    raw = yaml.safe_load((REPO_ROOT / "monitors.yaml").read_text())
    raw["warehouse"] = {
        "results": str(folder / "results.sqlite"),
        "data": data or str(folder / "warehouse"),
    }
    top = dict(top or {})
    raw["alerting"] = {"log_path": str(folder / "alerts.jsonl"), **top.pop("alerting", {})}
    raw.update(top)
    for model in raw["models"]:
        model["logs"] = logs
        beside = logs.rstrip("/").rsplit("/", 1)[0]  # the labels and reference files sit beside the logs
        if labels == "":
            model.pop("labels", None)
        elif "labels" in model:
            model["labels"] = {**model["labels"], "location": labels or f"{beside}/labels"}
        if model.get("reference", {}).get("type") == "file":
            name = Path(model["reference"]["path"]).name
            model["reference"] = {"type": "file", "path": f"{beside}/reference/{name}"}
        model["partitions_start"] = "2026-11-01-00:00"  # before the demo hours the tests use (DEMO_END)
        model.update(model_overrides)
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-protocol server on loopback with credentials enforced (see monitoring_pipeline_tests.s3)."""
    with running_s3() as server:
        yield server


def use_s3(server: S3Server, env: pytest.MonkeyPatch) -> None:
    """AWS's standard environment variables for the S3 server, as a user pointing at MinIO would set them."""
    for name, value in server.pipeline.env(server.endpoint).items():
        env.setenv(name, value)


@pytest.fixture(scope="session")
def demo_s3(s3_server: S3Server, demo_logs: Path) -> str:
    """The demo (logs, labels, reference files) uploaded once to S3; its logs' location. Read-only."""
    with pytest.MonkeyPatch.context() as env:
        use_s3(s3_server, env)
        for folder in DEMO_FOLDERS:
            upload_tree(demo_logs.parent / folder, f"s3://{BUCKET}/demo/{folder}")
    return f"s3://{BUCKET}/demo/predictions"


def s3_root(folder: Path) -> str:
    """A test's own location on S3 (its temporary folder's name is unique in the session)."""
    return f"s3://{BUCKET}/{folder.name}"


def open_stores(kind: str, request: pytest.FixtureRequest, folder: Path, env: pytest.MonkeyPatch) -> Stores:
    """Logs (the demo), labels and a warehouse of the test's own, on the local store or on S3 (then with
    the S3 server's credentials set in `env`)."""
    if kind == "local":
        return Stores("local", str(folder), str(request.getfixturevalue("demo_logs")), folder)
    use_s3(request.getfixturevalue("s3_server"), env)
    return Stores("s3", s3_root(folder), request.getfixturevalue("demo_s3"), folder)


@pytest.fixture(params=["local", "s3"])
def stores(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stores:
    """For a test that runs on the local store AND on S3."""
    return open_stores(request.param, request, tmp_path, monkeypatch)


@pytest.fixture(params=["local", "s3"])
def warehouse_root(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where per-hour objects go, for the tests that run on the local store AND on S3."""
    if request.param == "local":
        return str(tmp_path / "warehouse")
    use_s3(request.getfixturevalue("s3_server"), monkeypatch)
    return s3_root(tmp_path)


@pytest.fixture
def config(tmp_path: Path, demo_logs: Path) -> MonitorsConfig:
    return load_config(write_config(tmp_path, str(demo_logs)))


def source_rows(root: Path, model: str, hour: datetime) -> int:
    """Rows in the hour's source objects, counted by pyarrow (independently of DuckDB)."""
    folder = root / model / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules marked `heavy(seconds)` first, heaviest first (the rest keep their order): `--dist
    loadscope` hands out modules in collection order, and a module of minutes collected last ran alone
    at the end of the suite (a 22-minute suite whose last 5 minutes were one test). Modules that start
    many processes at once (test_concurrency, test_crash) are not marked: started together with the
    daemon tests they overloaded the two cores (load 10) and every test ran slower."""

    def weight(item: pytest.Item) -> float:
        marker = item.get_closest_marker("heavy")
        return -marker.args[0] if marker else 0.0

    items.sort(key=weight)
