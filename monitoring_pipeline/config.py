"""The monitored-models file (`monitors.yaml`): parsed, validated, frozen.

Every problem is reported at once, each naming the file, the model and the field, so a bad file
never half-starts the pipeline. Relative paths are resolved against the file's own folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from monitoring_pipeline.stats.drift import DEFAULT_ALPHA, UnknownDriftTestError, get_test

CONFIG_ENV = "MONITORING_CONFIG"
RESULTS_ENV = "MONITORING_RESULTS"
WAREHOUSE_DATA_ENV = "MONITORING_WAREHOUSE_DATA"
REPO_ROOT = Path(__file__).resolve().parents[1]

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
OWNER = re.compile(r"^(team:[A-Za-z0-9_-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
FEATURE_KINDS = ("numerical", "categorical")
TASKS = ("classification", "regression")
REFERENCE_TYPES = ("trailing", "fixed", "file")

# One defaults table for every threshold (NannyML's habit); a model overrides any of them by name.
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "drift_share_warn": 0.3,
    "drift_share_error": 0.5,
    "max_null_share": 0.05,
    "min_known_category_share": 0.95,
    "volume_band": 0.5,
    "freshness_lag_minutes": 90.0,
    "drift_alpha": DEFAULT_ALPHA,
}

# Severity of each configurable check; `schema_matches` and `hour_is_not_empty` are always blocking ERRORs.
DEFAULT_SEVERITIES: Mapping[str, str] = {
    "data_quality": "WARN",
    "volume": "WARN",
    "freshness": "WARN",
    "critical_feature_drift": "ERROR",
    "prediction_drift": "WARN",
    "label_coverage": "WARN",
}
SEVERITIES = ("WARN", "ERROR")

Kind = Literal["numerical", "categorical"]


class ConfigError(ValueError):
    """The monitors file is invalid; the message lists every problem found."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    critical: bool = False
    drift_test: str | None = None
    drift_threshold: float | None = None
    values: tuple[str, ...] | None = None  # categorical: the known set (default: seen in the last 24 hours)
    range: tuple[float, float] | None = (
        None  # numerical: valid range (default: derived from the last 24 hours)
    )


@dataclass(frozen=True)
class ReferenceWindow:
    type: Literal["trailing", "fixed", "file"] = "trailing"
    hours: int = 24
    start: datetime | None = None
    end: datetime | None = None
    path: str | None = None


@dataclass(frozen=True)
class LabelsConfig:
    """Ground truth that lands late, in objects laid out like the logs but by the hour the labels arrived."""

    location: str
    column: str
    id_column: str  # in the label objects (default: the model's id_column)
    positive_class: str | None = None  # classification: the label value that is "positive"
    score_column: str | None = None  # classification: probability of the positive class
    class_column: str | None = None  # classification: predicted class (default: score >= 0.5)
    prediction_column: str | None = None  # regression: the predicted value
    max_delay_hours: int = 72  # labels later than this are not joined
    coverage_after_hours: int = 24  # label coverage is checked once an hour is this old
    min_coverage: float = 0.5
    reference_hours: int = 48  # performance baseline: the labelled rows of the hours before
    max_drop: float = 0.05  # WARN past it (accuracy / ROC AUC drop; MAE relative rise), ERROR past twice it
    min_labelled: int = 100  # fewer labelled rows: performance is reported, not judged


@dataclass(frozen=True)
class ModelConfig:
    name: str
    task: Literal["classification", "regression"]
    logs: str
    timestamp_column: str
    id_column: str
    features: tuple[Column, ...]
    predictions: tuple[Column, ...]
    partitions_start: datetime
    reference: ReferenceWindow = field(default_factory=ReferenceWindow)
    labels: LabelsConfig | None = None
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    severities: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    alerts: tuple[AlertRoute, ...] = ()
    schedule_lag_minutes: int = 30
    late_window_hours: int = 48
    max_hours_per_run: int = 24
    owners: tuple[str, ...] = ()  # shown on every asset of the model: emails or team:<name>

    @property
    def monitored_columns(self) -> tuple[Column, ...]:
        return self.features + self.predictions


@dataclass(frozen=True)
class AlertRoute:
    sink: str
    min_severity: str = "WARN"


@dataclass(frozen=True)
class SinkConfig:
    name: str
    type: Literal["webhook", "email"]
    settings: Mapping[str, Any]  # type-specific; secrets are named by *_env fields, never stored
    rate_limit_per_hour: int = 30


@dataclass(frozen=True)
class AlertingConfig:
    log_path: str
    summarize_hours_older_than: float = 48.0
    retry_base_seconds: float = 60.0
    sinks: Mapping[str, SinkConfig] = field(default_factory=dict)
    interval_seconds: float = 30.0


@dataclass(frozen=True)
class WarehouseConfig:
    results: str  # the results store: a SQLite file path or a postgresql:// URL
    tables_root: str
    retention_days: int = 400  # per-hour objects and result rows older than this are deleted daily

    def __repr__(self) -> str:  # a PostgreSQL URL may carry a password: never print it
        return f"WarehouseConfig(results=<{self.results.split('://')[0]}>, tables_root={self.tables_root!r})"


@dataclass(frozen=True)
class MonitorsConfig:
    path: Path
    warehouse: WarehouseConfig
    models: tuple[ModelConfig, ...]
    dagster_ui_url: str = "http://127.0.0.1:3000"
    alerting: AlertingConfig = field(
        default_factory=lambda: AlertingConfig(str(REPO_ROOT / "data" / "alerts.jsonl"))
    )
    # Prometheus text format for node_exporter's textfile collector (None: not written)
    prometheus_textfile: str | None = str(REPO_ROOT / "data" / "metrics" / "monitoring_pipeline.prom")

    def model(self, name: str) -> ModelConfig:
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(f"no model {name!r} in {self.path}; models: {[m.name for m in self.models]}")


def default_config_path() -> Path:
    """MONITORING_CONFIG if set, else ./monitors.yaml, else the repository's monitors.yaml."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    local = Path.cwd() / "monitors.yaml"
    return local if local.exists() else REPO_ROOT / "monitors.yaml"


def load_config(path: str | Path | None = None) -> MonitorsConfig:
    """Read and validate a monitors file; raise ConfigError listing every problem."""
    path = Path(path) if path is not None else default_config_path()
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found (set {CONFIG_ENV} to choose another)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    parser = _Parser(path)
    config = parser.parse(raw)
    if parser.errors:
        raise ConfigError(f"{path}: {len(parser.errors)} problem(s):\n  - " + "\n  - ".join(parser.errors))
    assert config is not None
    return config


def resolve_location(location: str, base: Path) -> str:
    """s3:// URIs stay as they are; local paths become absolute, relative to the config's folder."""
    if location.startswith("s3://"):
        return location.rstrip("/")
    return str((base / Path(location).expanduser()).resolve())


def parse_hour(value: Any) -> datetime:
    """Accept '2024-01-01-05:00' (Dagster's key), ISO strings, dates and datetimes; return UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif hasattr(value, "isoformat"):  # a date
        parsed = datetime.fromisoformat(value.isoformat())
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}:\d{2}", text):
            text = text[:10] + "T" + text[11:]
        parsed = datetime.fromisoformat(text)
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed


class _Parser:
    """Walks the raw YAML, collecting errors instead of stopping at the first one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.resolve().parent
        self.errors: list[str] = []

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def field_error(self, model: str, path: str, message: str) -> None:
        """`model 'x': field 'features.amount.kind': message`."""
        self.error(f"{model}: field '{path}'", message)

    def parse(self, raw: Any) -> MonitorsConfig | None:
        if not isinstance(raw, dict):
            self.error("top level", "expected a mapping with a 'models' list")
            return None
        self._unknown(
            raw, {"models", "warehouse", "dagster_ui_url", "alerting", "prometheus_textfile"}, "top level"
        )
        warehouse = self._warehouse(raw.get("warehouse") or {})
        self.alerting = self._alerting(raw.get("alerting") or {})
        models_raw = raw.get("models")
        if not isinstance(models_raw, list) or not models_raw:
            self.error("field 'models'", "expected a non-empty list of models")
            return None
        models = [m for i, item in enumerate(models_raw) if (m := self._model(item, i)) is not None]
        names = [m.name for m in models]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            self.error(f"model {dup!r}", "declared more than once")
        ui_url = str(raw.get("dagster_ui_url", "http://127.0.0.1:3000")).rstrip("/")
        textfile = raw.get("prometheus_textfile", "data/metrics/monitoring_pipeline.prom")
        if textfile is not None and (not isinstance(textfile, str) or not textfile.endswith(".prom")):
            self.error(
                "field 'prometheus_textfile'", f"expected a path ending in .prom, or null; got {textfile!r}"
            )
            textfile = None
        textfile = resolve_location(textfile, self.base) if textfile else None
        return MonitorsConfig(self.path, warehouse, tuple(models), ui_url, self.alerting, textfile)

    def _unknown(self, raw: dict, allowed: set[str], where: str) -> None:
        for key in sorted(set(raw) - allowed):
            self.error(where, f"unknown field {key!r} (allowed: {', '.join(sorted(allowed))})")

    def _warehouse(self, raw: Any) -> WarehouseConfig:
        if not isinstance(raw, dict):
            self.error("field 'warehouse'", "expected a mapping")
            raw = {}
        if "catalog" in raw:
            self.error(
                "field 'warehouse.catalog'",
                "the DuckDB catalog file is gone: results live in `warehouse.results` (a SQLite file or a "
                "postgresql:// URL) and `monitoring-pipeline sql` builds its views per session; remove "
                "the field",
            )
        self._unknown(raw, {"catalog", "results", "data", "retention_days"}, "field 'warehouse'")
        retention = raw.get("retention_days", WarehouseConfig.retention_days)
        if isinstance(retention, bool) or not isinstance(retention, int) or retention < 1:
            self.error("field 'warehouse.retention_days'", f"expected a whole number >= 1; got {retention!r}")
            retention = WarehouseConfig.retention_days
        results = str(os.environ.get(RESULTS_ENV) or raw.get("results", "data/results.sqlite"))
        if not results.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
            results = resolve_location(results, self.base)
        data = os.environ.get(WAREHOUSE_DATA_ENV) or raw.get("data", "data/warehouse")
        return WarehouseConfig(results, resolve_location(str(data), self.base), retention)

    def _model(self, raw: Any, index: int) -> ModelConfig | None:
        if not isinstance(raw, dict):
            self.error(f"models[{index}]", "expected a mapping")
            return None
        name = raw.get("name")
        where = f"model {name!r}" if isinstance(name, str) else f"models[{index}]"
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            self.error(
                f"{where}: field 'name'", "must match [a-z][a-z0-9_]* (it becomes an asset key prefix)"
            )
            return None
        allowed = {"name", "task", "logs", "timestamp_column", "id_column", "features", "predictions"}
        allowed |= {"partitions_start", "reference", "labels", "thresholds", "severities", "alerts"}
        allowed |= {"schedule_lag_minutes", "late_window_hours", "max_hours_per_run", "owners"}
        self._unknown(raw, allowed, where)
        errors_before = len(self.errors)
        task = self._choice(raw, "task", TASKS, where)
        logs = self._required_str(raw, "logs", where)
        ts_col = self._column_name(raw, "timestamp_column", where)
        id_col = self._column_name(raw, "id_column", where)
        features = self._columns(raw.get("features"), where, "features")
        predictions = self._columns(raw.get("predictions"), where, "predictions")
        start = self._hour(
            raw.get("partitions_start", "2024-01-01-00:00"), f"{where}: field 'partitions_start'"
        )
        reference = self._reference(raw.get("reference", {}), where)
        labels = self._labels(raw.get("labels"), where, task, id_col, predictions)
        thresholds = self._thresholds(raw.get("thresholds", {}), where)
        severities = self._severities(raw.get("severities", {}), where)
        routes = self._routes(raw.get("alerts", []), where)
        timing = {
            key: self._whole(raw, key, default, low, where)
            for key, default, low in (
                ("schedule_lag_minutes", 30, 0),
                ("late_window_hours", 48, 1),
                ("max_hours_per_run", 24, 1),
            )
        }
        owners = raw.get("owners", [])
        if not isinstance(owners, list) or not all(isinstance(o, str) and OWNER.match(o) for o in owners):
            self.field_error(where, "owners", f"expected a list of emails or team:<name>; got {owners!r}")
            owners = []
        all_names = [ts_col, id_col] + [c.name for c in features + predictions]
        for dup in sorted({n for n in all_names if n and all_names.count(n) > 1}):
            self.error(where, f"column {dup!r} is declared more than once")
        if len(self.errors) > errors_before:
            return None
        return ModelConfig(
            name=name,
            task=task,  # type: ignore[arg-type]
            logs=resolve_location(str(logs), self.base),
            timestamp_column=str(ts_col),
            id_column=str(id_col),
            features=features,
            predictions=predictions,
            partitions_start=start or datetime(2024, 1, 1, tzinfo=UTC),
            reference=reference,
            labels=labels,
            thresholds=thresholds,
            severities=severities,
            alerts=routes,
            owners=tuple(owners),
            **timing,
        )

    def _required_str(self, raw: dict, key: str, model: str, prefix: str = "") -> str | None:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.field_error(model, prefix + key, "required, a non-empty string")
            return None
        return value.strip()

    def _column_name(self, raw: dict, key: str, model: str, prefix: str = "") -> str | None:
        value = self._required_str(raw, key, model, prefix)
        if value is not None and not COLUMN_NAME.match(value):
            self.field_error(model, prefix + key, f"{value!r} is not a valid column name")
            return None
        return value

    def _choice(self, raw: dict, key: str, choices: tuple[str, ...], model: str) -> str | None:
        value = raw.get(key)
        if value not in choices:
            self.field_error(model, key, f"expected one of {', '.join(choices)}; got {value!r}")
            return None
        return value

    def _columns(self, raw: Any, model: str, path: str) -> tuple[Column, ...]:
        """Either {name: kind} or {name: {kind: ..., critical: ..., drift_test: ...}}."""
        if not isinstance(raw, dict) or not raw:
            self.field_error(model, path, "expected a non-empty mapping of column name to kind")
            return ()
        columns = []
        for name, spec in raw.items():
            here = f"{path}.{name}"
            spec = {"kind": spec} if isinstance(spec, str) else spec
            if not COLUMN_NAME.match(str(name)):
                self.field_error(model, here, f"{name!r} is not a valid column name")
                continue
            if not isinstance(spec, dict):
                self.field_error(
                    model, here, "expected a kind (numerical / categorical) or a mapping with 'kind'"
                )
                continue
            self._unknown(
                spec, {"kind", "critical", "drift_test", "drift_threshold"}, f"{model}: field '{here}'"
            )
            kind = spec.get("kind")
            if kind not in FEATURE_KINDS:
                self.field_error(
                    model, f"{here}.kind", f"expected one of {', '.join(FEATURE_KINDS)}; got {kind!r}"
                )
                continue
            critical = spec.get("critical", False)
            if not isinstance(critical, bool):
                self.field_error(model, f"{here}.critical", f"expected true or false; got {critical!r}")
                continue
            test, threshold = spec.get("drift_test"), spec.get("drift_threshold")
            if test is not None:
                try:
                    get_test(str(test), kind)
                except UnknownDriftTestError as exc:
                    self.field_error(model, f"{here}.drift_test", str(exc))
                    continue
            if threshold is not None and (
                isinstance(threshold, bool) or not isinstance(threshold, int | float)
            ):
                self.field_error(model, f"{here}.drift_threshold", f"expected a number; got {threshold!r}")
                continue
            columns.append(
                Column(str(name), kind, critical, test, None if threshold is None else float(threshold))
            )
        return tuple(columns)

    def _values(self, spec: dict, kind: str, model: str, here: str) -> tuple[str, ...] | None:
        raw = spec.get("values")
        if raw is None:
            return None
        if kind != "categorical" or not isinstance(raw, list) or not raw:
            self.field_error(model, f"{here}.values", "a non-empty list, for categorical columns only")
            return None
        return tuple(str(v) for v in raw)

    def _range(self, spec: dict, kind: str, model: str, here: str) -> tuple[float, float] | None:
        raw = spec.get("range")
        if raw is None:
            return None
        ok = isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, int | float) for v in raw)
        if kind != "numerical" or not ok or raw[0] > raw[1]:
            self.field_error(model, f"{here}.range", "[min, max] with min <= max, for numerical columns only")
            return None
        return float(raw[0]), float(raw[1])

    def _hour(self, raw: Any, where: str) -> datetime | None:
        try:
            hour = parse_hour(raw)
        except (TypeError, ValueError):
            self.error(where, f"expected an hour such as '2024-01-01-00:00'; got {raw!r}")
            return None
        if hour.minute or hour.second or hour.microsecond:
            self.error(where, f"must fall on a whole hour; got {raw!r}")
            return None
        return hour

    def _reference(self, raw: Any, model: str) -> ReferenceWindow:
        if not isinstance(raw, dict):
            self.field_error(model, "reference", "expected a mapping")
            return ReferenceWindow()
        self._unknown(raw, {"type", "hours", "start", "end", "path"}, f"{model}: field 'reference'")
        kind = raw.get("type", "trailing")
        if kind not in REFERENCE_TYPES:
            self.field_error(
                model, "reference.type", f"expected one of {', '.join(REFERENCE_TYPES)}; got {kind!r}"
            )
            return ReferenceWindow()
        if kind == "trailing":
            hours = raw.get("hours", 24)
            if not isinstance(hours, int) or isinstance(hours, bool) or hours < 1:
                self.field_error(
                    model, "reference.hours", f"expected a whole number of hours >= 1; got {hours!r}"
                )
                return ReferenceWindow()
            return ReferenceWindow("trailing", hours=hours)
        if kind == "file":
            path = raw.get("path")
            if not isinstance(path, str) or not path:
                self.field_error(
                    model, "reference.path", "required for type 'file' (a Parquet file of reference data)"
                )
                return ReferenceWindow()
            return ReferenceWindow("file", path=resolve_location(path, self.base))
        start = self._hour(raw.get("start"), f"{model}: field 'reference.start'")
        end = self._hour(raw.get("end"), f"{model}: field 'reference.end'")
        if start and end and end <= start:
            self.field_error(model, "reference.end", "must be after start")
        return ReferenceWindow("fixed", start=start, end=end)

    def _labels(
        self,
        raw: Any,
        model: str,
        task: str | None,
        id_column: str | None,
        predictions: tuple[Column, ...],
    ) -> LabelsConfig | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.field_error(model, "labels", "expected a mapping with 'location' and 'column'")
            return None
        columns = {"id_column", "score_column", "class_column", "prediction_column"}
        numbers = {
            "max_delay_hours": (72, 1, True),
            "coverage_after_hours": (24, 0, True),
            "min_coverage": (0.5, 0, False),
            "reference_hours": (48, 1, True),
            "max_drop": (0.05, 0, False),
            "min_labelled": (100, 1, True),
        }
        self._unknown(
            raw, {"location", "column", "positive_class", *columns, *numbers}, f"{model}: field 'labels'"
        )
        location = self._required_str(raw, "location", model, "labels.")
        column = self._column_name(raw, "column", model, "labels.")
        named = {k: self._column_name(raw, k, model, "labels.") if k in raw else None for k in columns}
        values: dict[str, Any] = {}
        for key, (default, low, whole) in numbers.items():
            value = raw.get(key, default)
            ok = isinstance(value, int) if whole else isinstance(value, int | float)
            if isinstance(value, bool) or not ok or value < low:
                kind = "a whole number" if whole else "a number"
                self.field_error(model, f"labels.{key}", f"expected {kind} >= {low}; got {value!r}")
            values[key] = value
        if values["min_coverage"] > 1:
            self.field_error(model, "labels.min_coverage", "a share between 0 and 1")
        by_name = {c.name: c for c in predictions}

        def prediction(key: str, kind: str) -> str | None:
            name = named[key]
            if name is None:  # default: the model's only prediction of that kind
                found = [c.name for c in predictions if c.kind == kind]
                return found[0] if len(found) == 1 else None
            if name not in by_name or by_name[name].kind != kind:
                self.field_error(model, f"labels.{key}", f"{name!r} is not a {kind} prediction of the model")
            return name

        positive = raw.get("positive_class")
        score = klass = value_column = None
        if task == "classification":
            score, klass = prediction("score_column", "numerical"), prediction("class_column", "categorical")
            if positive is None or isinstance(positive, dict | list):
                self.field_error(
                    model, "labels.positive_class", "required for a classifier (the positive label)"
                )
            if score is None and klass is None:
                self.field_error(model, "labels", "a classifier needs a score_column or a class_column")
        elif task == "regression":
            value_column = prediction("prediction_column", "numerical")
            if value_column is None:
                self.field_error(model, "labels.prediction_column", "required: the numerical prediction")
        if location is None or column is None:
            return None
        return LabelsConfig(
            location=resolve_location(location, self.base),
            column=column,
            id_column=named["id_column"] or id_column or "",
            positive_class=None if positive is None else str(positive),
            score_column=score,
            class_column=klass,
            prediction_column=value_column,
            **{k: float(v) if isinstance(v, float) else v for k, v in values.items()},
        )

    def _thresholds(self, raw: Any, model: str) -> Mapping[str, float]:
        merged = dict(DEFAULT_THRESHOLDS)
        if not isinstance(raw, dict):
            self.field_error(model, "thresholds", "expected a mapping of threshold name to number")
            return merged
        for key, value in raw.items():
            if key not in DEFAULT_THRESHOLDS:
                known = ", ".join(DEFAULT_THRESHOLDS)
                self.field_error(model, f"thresholds.{key}", f"unknown threshold (known: {known})")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                self.field_error(model, f"thresholds.{key}", f"expected a non-negative number; got {value!r}")
            else:
                merged[key] = float(value)
        return merged

    def _severities(self, raw: Any, model: str) -> Mapping[str, str]:
        merged = dict(DEFAULT_SEVERITIES)
        if not isinstance(raw, dict):
            self.field_error(model, "severities", "expected a mapping of check family to WARN or ERROR")
            return merged
        for key, value in raw.items():
            if key not in DEFAULT_SEVERITIES:
                known = ", ".join(DEFAULT_SEVERITIES)
                self.field_error(model, f"severities.{key}", f"unknown check family (known: {known})")
            elif str(value).upper() not in SEVERITIES:
                self.field_error(model, f"severities.{key}", f"expected WARN or ERROR; got {value!r}")
            else:
                merged[key] = str(value).upper()
        return merged

    def _alerting(self, raw: Any) -> AlertingConfig:
        where = "field 'alerting'"
        if not isinstance(raw, dict):
            self.error(where, "expected a mapping")
            raw = {}
        known = {"log_path", "summarize_hours_older_than", "retry_base_seconds", "sinks", "interval_seconds"}
        self._unknown(raw, known, where)
        sinks = {}
        raw_sinks = raw.get("sinks") or {}
        if not isinstance(raw_sinks, dict):
            self.error(f"{where}.sinks", "expected a mapping of sink name to settings")
            raw_sinks = {}
        for name, spec in raw_sinks.items():
            sink = self._sink(str(name), spec)
            if sink is not None:
                sinks[sink.name] = sink
        numbers = {}
        defaults = (
            ("summarize_hours_older_than", 48.0),
            ("retry_base_seconds", 60.0),
            ("interval_seconds", 30.0),
        )
        for key, default in defaults:
            value = raw.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                self.error(f"{where}.{key}", f"expected a non-negative number; got {value!r}")
                value = default
            numbers[key] = float(value)
        log_path = resolve_location(str(raw.get("log_path", "data/alerts.jsonl")), self.base)
        return AlertingConfig(log_path, sinks=sinks, **numbers)

    def _sink(self, name: str, spec: Any) -> SinkConfig | None:
        where = f"field 'alerting.sinks.{name}'"
        required = {"webhook": {"url_env"}, "email": {"host", "sender", "to"}}
        optional = {
            "webhook": {"format", "timeout_seconds"},
            "email": {"port", "starttls", "username_env", "password_env", "timeout_seconds"},
        }
        if not isinstance(spec, dict) or spec.get("type") not in required:
            self.error(where, "expected a mapping with type: webhook or type: email")
            return None
        kind = spec["type"]
        self._unknown(spec, {"type", "rate_limit_per_hour"} | required[kind] | optional[kind], where)
        missing = sorted(required[kind] - set(spec))
        if missing:
            self.error(
                where,
                f"missing {', '.join(missing)} (secrets are given as the NAME of an environment variable)",
            )
            return None
        if kind == "webhook" and spec.get("format", "json") not in ("json", "slack"):
            self.error(f"{where}.format", f"expected json or slack; got {spec.get('format')!r}")
            return None
        rate = spec.get("rate_limit_per_hour", 30)
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
            self.error(f"{where}.rate_limit_per_hour", f"expected a whole number >= 1; got {rate!r}")
            return None
        settings = {k: v for k, v in spec.items() if k not in ("type", "rate_limit_per_hour")}
        return SinkConfig(name, kind, settings, rate)

    def _routes(self, raw: Any, model: str) -> tuple[AlertRoute, ...]:
        if not isinstance(raw, list):
            self.field_error(model, "alerts", "expected a list of {sink: name, min_severity: WARN|ERROR}")
            return ()
        routes = []
        for i, item in enumerate(raw):
            here = f"alerts[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("sink"), str):
                self.field_error(model, here, "expected {sink: name, min_severity: WARN|ERROR}")
                continue
            if item["sink"] not in getattr(self, "alerting", AlertingConfig("")).sinks:
                known = (
                    ", ".join(sorted(getattr(self, "alerting", AlertingConfig("")).sinks)) or "none defined"
                )
                self.field_error(
                    model, f"{here}.sink", f"unknown sink {item['sink']!r} (alerting.sinks: {known})"
                )
                continue
            severity = str(item.get("min_severity", "WARN")).upper()
            if severity not in SEVERITIES:
                self.field_error(
                    model, f"{here}.min_severity", f"expected WARN or ERROR; got {item.get('min_severity')!r}"
                )
                continue
            routes.append(AlertRoute(item["sink"], severity))
        return tuple(routes)

    def _whole(self, raw: dict, key: str, default: int, low: int, model: str) -> int:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.field_error(model, key, f"expected a whole number >= {low}; got {value!r}")
            return default
        return value
