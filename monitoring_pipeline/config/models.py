"""The monitored-models file's schema: frozen pydantic models, each field's type, bounds, default and
meaning in one place (the README's table is generated from them: `python -m monitoring_pipeline.config`)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitoring_pipeline.config.demo_window import DEMO, DEMO_WINDOW_FILE, demo_layout, demo_start
from monitoring_pipeline.config.key_layout import (
    EVENT_TIME_PRESETS,
    PRESETS,
    KeyLayout,
    LayoutError,
    key_layout,
)
from monitoring_pipeline.stats.drift import DEFAULT_ALPHA, UnknownDriftTestError, get_test

CONFIG_ENV = "MONITORING_CONFIG"
RESULTS_ENV = "MONITORING_RESULTS"
WAREHOUSE_DATA_ENV = "MONITORING_WAREHOUSE_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
OWNER = re.compile(r"^(team:[A-Za-z0-9_-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")
# a column, or a field nested in objects (JSON) or structs (Parquet, Avro) as `a.b`
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){0,7}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# columns the warehouse adds to every hour's rows: a feature of that name would be renamed `_1`
RESERVED_COLUMNS = ("partition_hour", "source_object")
LOG_FORMATS = ("auto", "parquet", "json", "csv", "avro")
FIREHOSE_BUFFER_MINUTES = 15  # Firehose's largest buffer interval (900 s): the default of sink_buffer_minutes
MAX_NODES = 100_000  # YAML nodes after alias expansion; the shipped file has ~300
SHOW_CHARS = 200  # no value is shown longer than this in an error


class ConfigError(ValueError):
    """The monitors file is invalid; the message lists every problem found."""


class Severity(StrEnum):
    WARN = "WARN"
    ERROR = "ERROR"


class FieldProblems(ValueError):
    """Problems found by a cross-field rule, each at its own field (a path below the validated model)."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


def show(value: Any) -> str:
    """A value as an error shows it: its repr, cut to SHOW_CHARS characters."""
    text = repr(value)
    return text if len(text) <= SHOW_CHARS else text[: SHOW_CHARS - 20] + f"... ({len(text)} chars)"


def _base(info: ValidationInfo) -> Path:
    return (info.context or {}).get("base", Path.cwd())


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


def _hour(value: Any) -> datetime:
    try:
        hour = parse_hour(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected an hour such as '2024-01-01-00:00'; got {show(value)}") from None
    if hour.minute or hour.second or hour.microsecond:
        raise ValueError(f"must fall on a whole hour; got {show(value)}")
    return hour


def _column_name(value: str) -> str:
    if not COLUMN_NAME.match(value):
        raise ValueError(
            f"{show(value)} is not a valid column name ([A-Za-z_][A-Za-z0-9_]*, nested fields as a.b)"
        )
    return value


def _env_name(value: str) -> str:
    if "://" in value or not ENV_NAME.match(value):  # never echo it: it may be the secret itself
        raise ValueError(
            "must be the NAME of an environment variable (e.g. SLACK_WEBHOOK_URL), not its value; "
            "secrets never go in this file"
        )
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("required, a non-empty string")
    return value.strip()


def _located(value: str, info: ValidationInfo) -> str:
    return resolve_location(value, _base(info))


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Whole = Annotated[int, Strict()]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]
Text = Annotated[str, Strict(), AfterValidator(_non_empty)]
Location = Annotated[Text, AfterValidator(_located)]  # a folder or s3:// URI, relative to the file's folder
ColumnName = Annotated[str, Strict(), AfterValidator(_column_name)]
EnvName = Annotated[str, Strict(), AfterValidator(_env_name)]
Hour = Annotated[datetime, BeforeValidator(_hour)]
Level = Annotated[Severity, BeforeValidator(_upper)]


class Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, hide_input_in_errors=True, validate_by_name=True
    )


class Column(Frozen):
    """A monitored column: `{name: kind}` or `{name: {kind: ..., critical: ..., ...}}`."""

    name: ColumnName
    kind: Literal["numerical", "categorical"] = Field(description="`numerical` or `categorical`")
    critical: Flag = Field(
        False, description="gets its own drift check (its severity: `critical_feature_drift`)"
    )
    drift_test: str | None = Field(
        None, description="overrides the automatic battery `auto` (see Drift tests)"
    )
    drift_threshold: Annotated[Number, Field(gt=0.0)] | None = Field(
        None, description="the test's threshold (for `auto`: a multiplier of every floor)"
    )
    values: tuple[Annotated[str, BeforeValidator(str)], ...] | None = Field(
        None,
        min_length=1,
        description="categorical: the accepted values (default: those of the last 24 hours)",
    )
    range: tuple[Number, Number] | None = Field(
        None, description="numerical: the accepted `[min, max]` (default: derived from the last 24 hours)"
    )

    @field_validator("drift_test")
    @classmethod
    def _known_test(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind"):
            try:
                get_test(value, info.data["kind"])
            except UnknownDriftTestError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("values")
    @classmethod
    def _values_for_categories(
        cls, value: tuple[str, ...] | None, info: ValidationInfo
    ) -> tuple[str, ...] | None:
        if value is not None and info.data.get("kind") == "numerical":
            raise ValueError("for categorical columns only (a numerical column takes `range`)")
        return value

    @field_validator("range")
    @classmethod
    def _range_for_numbers(
        cls, value: tuple[float, float] | None, info: ValidationInfo
    ) -> tuple[float, float] | None:
        if value is None:
            return None
        if info.data.get("kind") == "categorical":
            raise ValueError("for numerical columns only (a categorical column takes `values`)")
        if value[0] > value[1]:
            raise ValueError(f"[min, max] with min <= max; got {show(list(value))}")
        return value


def _columns(value: Any) -> Any:
    """{name: kind | {kind: ...}} -> a list of column mappings (errors keep the name in their path)."""
    if not isinstance(value, dict):
        return value
    out = []
    for name, spec in value.items():
        spec = {"kind": spec} if not isinstance(spec, dict) else spec
        if "name" in spec:
            raise FieldProblems([((str(name), "name"), "not a field: a column's name is its key")])
        out.append({**spec, "name": name})
    return out


Columns = Annotated[tuple[Column, ...], BeforeValidator(_columns), Field(min_length=1)]


class ReferenceWindow(Frozen):
    """`{type: trailing, hours: 24}`, `{type: fixed, start: ..., end: ...}` or `{type: file, path: ...}`."""

    type: Literal["trailing", "fixed", "file"] = Field(
        "trailing",
        description="`trailing`: the hours before each hour; `fixed`: one window; `file`: training data",
    )
    hours: Annotated[Whole, Field(ge=1)] = Field(24, description="trailing: how many hours before the hour")
    start: Hour | None = Field(None, description="fixed: first hour of the window")
    end: Hour | None = Field(None, description="fixed: the hour after the window")
    path: str | None = Field(None, description="file: a Parquet file of reference (training) data")

    @model_validator(mode="after")
    def _fields_of_the_type(self, info: ValidationInfo) -> ReferenceWindow:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        used = {"trailing": {"hours"}, "fixed": {"start", "end"}, "file": {"path"}}[self.type]
        for name in sorted(self.model_fields_set - used - {"type"}):
            problems.append(
                ((name,), f"not a field of a {self.type} reference (its fields: {', '.join(sorted(used))})")
            )
        if self.type == "fixed":
            for name in ("start", "end"):
                if getattr(self, name) is None:
                    problems.append(((name,), "required for type 'fixed'"))
            if self.start and self.end and self.end <= self.start:
                problems.append((("end",), "must be after start"))
        if self.type == "file":
            if not self.path:
                problems.append((("path",), "required for type 'file' (a Parquet file of reference data)"))
            else:
                object.__setattr__(self, "path", _located(self.path, info))
        if problems:
            raise FieldProblems(problems)
        return self


Share = Annotated[Number, Field(ge=0.0, le=1.0)]


class LabelsConfig(Frozen):
    """Ground truth that lands late, in objects laid out like the logs but by the hour the labels arrived."""

    location: Location = Field(
        description="folder or `s3://...`; objects under `<location>/<model>/dt=.../hour=HH/`"
    )
    column: ColumnName = Field(description="the label column")
    id_column: ColumnName | None = Field(
        None, description="in the label objects (default: the model's id_column)"
    )
    positive_class: (
        Annotated[str, BeforeValidator(lambda v: v if isinstance(v, dict | list) else str(v))] | None
    ) = Field(None, description="classifiers: the label value that is positive (required)")
    score_column: ColumnName | None = Field(
        None,
        description="classifiers: probability of the positive class (default: the only numerical prediction)",
    )
    class_column: ColumnName | None = Field(
        None, description="classifiers: predicted class (default: the only categorical prediction)"
    )
    classes: tuple[Annotated[str, BeforeValidator(str)], ...] | None = Field(
        None,
        description="multiclass classifiers: the label values, at least 3 (then no positive_class); "
        "judged on macro F1",
    )
    score_columns: dict[Annotated[str, BeforeValidator(str)], ColumnName] | None = Field(
        None,
        description="multiclass: `{class: numerical prediction}`, each class's probability (default: the "
        "predictions `score_<class>` when all are declared, else none)",
    )
    prediction_column: ColumnName | None = Field(
        None, description="regressors: the predicted value (default: the only numerical prediction)"
    )
    max_delay_hours: Annotated[Whole, Field(ge=1)] = Field(
        72, description="labels later than this are not joined"
    )
    coverage_after_hours: Annotated[Whole, Field(ge=0)] = Field(
        24, description="label coverage is checked once an hour is this old"
    )
    min_coverage: Share = Field(0.5, description="the share of an hour's predictions that must get a label")
    reference_hours: Annotated[Whole, Field(ge=1)] = Field(
        48, description="performance baseline: the labelled rows of this many hours before"
    )
    max_drop: Annotated[Number, Field(ge=0.0)] = Field(
        0.05, description="WARN past it (accuracy / ROC AUC drop; MAE relative rise), ERROR past twice it"
    )
    min_labelled: Annotated[Whole, Field(ge=1)] = Field(
        100, description="fewer labelled rows: performance is reported, not judged"
    )


class Thresholds(Frozen):
    """A model's thresholds; every one has its default here."""

    drift_share_warn: Share = Field(0.3, description="the share of drifted features that WARNs")
    drift_share_error: Share = Field(0.5, description="the share of drifted features that is an ERROR")
    drift_alpha: Annotated[Number, Field(gt=0.0, lt=1.0)] = Field(
        DEFAULT_ALPHA,
        description="false-alarm level of a model-hour: the chance an unchanged hour reports any drift",
    )
    max_null_share: Share = Field(0.05, description="most nulls a column may hold in an hour")
    min_known_category_share: Share = Field(
        0.95, description="least share of a categorical's rows in known values"
    )
    volume_band: Annotated[Number, Field(ge=0.0)] = Field(
        0.5, description="an hour's row count may differ from the usual by this share"
    )
    freshness_lag_minutes: Annotated[Number, Field(ge=0.0)] = Field(
        90.0, description="how late an hour's newest object may land after the hour ends"
    )
    max_outside_hour_share: Share = Field(
        0.001, description="most of an hour's timestamps that may fall outside it (widened by the tolerance)"
    )
    timestamp_tolerance_minutes: Annotated[Number, Field(ge=0.0, le=1440.0)] = Field(
        15.0, description="how far before or after its hour a timestamp may be and still count as in it"
    )
    max_bad_line_share: Share = Field(
        0.0,
        description="JSON lines / CSV: most of an hour's lines that may be malformed and skipped (counted "
        "in `bad_lines`); past it the hour fails naming the first bad line",
    )
    min_segment_rows: Annotated[Whole, Field(ge=1)] = Field(
        100,
        description="segments: a segment is judged only with at least this many rows in the hour and "
        "in the reference",
    )

    @model_validator(mode="after")
    def _warn_before_error(self) -> Thresholds:
        if self.drift_share_warn > self.drift_share_error:
            raise FieldProblems([(("drift_share_warn",), "must not be above drift_share_error")])
        return self


class Severities(Frozen):
    """What a failure of each configurable check is (`schema_matches`, `hour_is_not_empty`: always ERROR)."""

    data_quality: Level = Field(Severity.WARN, description="the expectation suite")
    volume: Level = Field(Severity.WARN, description="the row count")
    freshness: Level = Field(Severity.WARN, description="logs arrived on time")
    timestamps: Level = Field(Severity.ERROR, description="the hour's timestamps are in the hour")
    critical_feature_drift: Level = Field(Severity.ERROR, description="a critical feature drifted")
    prediction_drift: Level = Field(Severity.WARN, description="a prediction column drifted")
    label_coverage: Level = Field(Severity.WARN, description="labels arrived for enough predictions")
    segment_drift: Level = Field(Severity.WARN, description="a feature drifted within a segment")
    late_records: Level = Field(
        Severity.WARN,
        description="partition_by event_time: records landed too late (or too early) for their hour",
    )
    multivariate_drift: Level = Field(
        Severity.WARN, description="the hour's PCA reconstruction error left its band"
    )


class MultivariateConfig(Frozen):
    """Multivariate drift: the hour's mean PCA reconstruction error against a band from the reference."""

    enabled: Flag | None = Field(None, description="default: on for a model with at least 2 features")
    variance: Annotated[Number, Field(gt=0.0, lt=1.0)] = Field(
        0.65, description="the share of the reference's variance the kept principal components explain"
    )
    band_sigma: Annotated[Number, Field(gt=0.0)] = Field(
        3.0, description="the band's half-width in standard deviations of an unchanged hour's error"
    )
    min_reference_hours: Annotated[Whole, Field(ge=2)] = Field(
        6, description="fewer reference hours with rows: the hour is reported, not judged"
    )
    sample_rows: Annotated[Whole, Field(ge=100, le=1_000_000)] = Field(
        3000, description="rows sampled per hour (uniformly) to fit the reference from"
    )
    file_chunks: Annotated[Whole, Field(ge=2, le=1000)] = Field(
        24, description="a file reference: the chunks its sample is cut into, in file order, as its hours"
    )


class AlertRoute(Frozen):
    sink: Annotated[str, Strict()] = Field(description="a name in `alerting.sinks`")
    min_severity: Level = Field(Severity.WARN, description="the least severity sent there")


def _owner(value: str) -> str:
    if not OWNER.match(value):
        raise ValueError(f"expected an email or team:<name>; got {show(value)}")
    return value


class ModelConfig(Frozen):
    name: Annotated[str, Strict()] = Field(
        description="`[a-z][a-z0-9_]*`; the asset key prefix, the asset group and the warehouse schema"
    )
    task: Literal["classification", "regression"] = Field(description="`classification` or `regression`")
    logs: Location = Field(
        description="prediction logs: a folder or `s3://bucket/prefix`, one folder per hour under it "
        "(`logs_layout`)"
    )
    logs_layout: Annotated[str, Strict()] = Field(
        "hive",
        description=f"the hour folders under `logs`: a preset ({', '.join(f'`{p}`' for p in PRESETS)}) "
        "or a template with {yyyy} {MM} {dd} {HH} and named fields, e.g. `{prefix}{yyyy}/{MM}/{dd}/{HH}/`; "
        f"`demo`: the layout `seed-demo` wrote (kept in `{DEMO_WINDOW_FILE.as_posix()}`)",
    )
    logs_fields: dict[Annotated[str, Strict()], Annotated[str, Strict()]] = Field(
        default_factory=dict,
        description="values of the template's named fields (default prefix `<name>/`, topic `<name>`)",
    )
    logs_format: Literal[LOG_FORMATS] = Field(  # type: ignore[valid-type]
        "auto",
        description="`parquet`, `json` (JSON lines), `csv`, `avro`, or `auto`: by extension, else by "
        "the first bytes; gzip by `.gz` or its magic bytes",
    )
    partition_by: Literal["arrival", "event_time"] | None = Field(
        None,
        description="`arrival`: an hour is its folder; `event_time`: the records whose timestamp is in "
        "the hour, from its folder and the next ones (default: event_time for "
        f"{' and '.join(EVENT_TIME_PRESETS)}, else arrival)",
    )
    max_arrival_delay_minutes: Annotated[Whole, Field(ge=0, le=1440)] = Field(
        15,
        description="event_time: how long after its hour a record may land and still count; rounded up "
        "to whole arrival folders (15: the next hour's folder too)",
    )
    sink_buffer_minutes: Annotated[Whole, Field(ge=0, le=1440)] | None = Field(
        None,
        description="event_time: how long the sink may hold records before writing them in the folder of "
        "the OLDEST one's arrival (Firehose: its buffer interval), so a record may sit in the folder before "
        "its hour's; rounded up to whole folders read before the hour's own (default: 15 for firehose, "
        "else 0)",
    )
    timestamp_column: ColumnName = Field(
        description="event time (a Parquet or Avro timestamp; in JSON lines or CSV an ISO-8601 string; "
        "naive ones are UTC)"
    )
    id_column: ColumnName = Field(description="prediction id (string, UUID or integer), joins the labels")
    timestamp_epoch_unit: Literal["s", "ms", "us"] | None = Field(
        None,
        description="JSON lines / CSV: a number in the timestamp column is that many seconds, milliseconds "
        "or microseconds since 1970-01-01 UTC (Kafka Connect's JsonConverter writes milliseconds); default: "
        "numbers are refused",
    )
    features: Columns = Field(
        description="`{column: numerical | categorical}` or `{column: {kind: ..., ...}}`"
    )
    predictions: Columns = Field(description="the prediction column(s), in the form of features")
    partitions_start: Hour = Field(
        datetime(2024, 1, 1, tzinfo=UTC),
        description=(
            "first hourly partition, `YYYY-MM-DD-HH:00` UTC, or `demo`: the first hour `seed-demo` wrote "
            f"(kept in `{DEMO_WINDOW_FILE.as_posix()}` beside this file)"
        ),
    )
    reference: ReferenceWindow = Field(default_factory=dict, description="the drift reference")
    segments: tuple[ColumnName, ...] = Field(
        (),
        max_length=2,
        description="up to 2 categorical columns of the model: drift is also judged per value of each "
        "(its `segment_top_k` largest values by the hour's volume, the rest pooled as `__other__`)",
    )
    segment_top_k: Annotated[Whole, Field(ge=1, le=100)] = Field(
        20, description="segments: how many values of each segment column get their own profile"
    )
    labels: LabelsConfig | None = Field(
        None, description="ground truth that arrives late (see Model performance)"
    )
    thresholds: Thresholds = Field(default_factory=dict, description="overrides of the thresholds")
    severities: Severities = Field(default_factory=dict, description="WARN or ERROR, per configurable check")
    alerts: tuple[AlertRoute, ...] = Field(
        (), description="routes to `alerting.sinks`; the log always gets all"
    )
    schedule_lag_minutes: Annotated[Whole, Field(ge=0)] = Field(
        30,
        description="how long after an hour ends (event_time: after its last arrival folder ends) the "
        "schedule processes it",
    )
    late_window_hours: Annotated[Whole, Field(ge=1)] = Field(
        48, description="how far back the late-file sensor looks"
    )
    max_hours_per_run: Annotated[Whole, Field(ge=1)] = Field(24, description="hours per run in a backfill")
    owners: tuple[Annotated[str, Strict(), AfterValidator(_owner)], ...] = Field(
        (), description="who is on call, shown on each asset: emails or `team:<name>`"
    )
    multivariate: MultivariateConfig = Field(
        default_factory=dict, description="multivariate (PCA reconstruction) drift"
    )

    @field_validator("partitions_start", mode="before")
    @classmethod
    def _demo_start(cls, value: Any, info: ValidationInfo) -> Any:
        return demo_start(_base(info)) if value == DEMO else value

    @field_validator("logs_layout", mode="before")
    @classmethod
    def _demo_layout(cls, value: Any, info: ValidationInfo) -> Any:
        return demo_layout(_base(info)) if value == DEMO else value

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError("must match [a-z][a-z0-9_]* (it becomes an asset key prefix)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        named = [(("timestamp_column",), self.timestamp_column), (("id_column",), self.id_column)]
        named += [
            ((role, i), c.name)
            for role in ("features", "predictions")
            for i, c in enumerate(getattr(self, role))
        ]
        seen: dict[str, str] = {}  # lower-cased name -> the first column's spelling
        for path, name in named:
            key = name.lower()
            if key in RESERVED_COLUMNS:
                problems.append((path, f"{name!r} is reserved: the warehouse adds that column to every row"))
            if key not in seen:
                seen[key] = name
                continue
            first = seen[key]
            if first == name:
                problems.append(((), f"column {name!r} is declared more than once"))
            else:
                problems.append(
                    (path, f"{name!r} and {first!r} differ only in case (DuckDB would mix them up)")
                )
        for i, c in enumerate(self.features):
            if c.critical and c.name == "prediction":  # its check would be named prediction_not_drifted
                problems.append(
                    (("features", i, "critical"), "a critical feature may not be named 'prediction'")
                )
        if self.multivariate.enabled and len(self.features) < 2:
            problems.append(
                (("multivariate", "enabled"), "needs at least 2 features (one feature has no correlations)")
            )
        problems += self._segment_problems()
        try:
            key_layout(self.logs_layout, self.name, self.logs_fields)
        except LayoutError as exc:
            problems.append((("logs_layout",), str(exc)))
        if self.labels is not None:
            labels, extra = self._labels(problems)
            object.__setattr__(self, "labels", labels.model_copy(update=extra))
        if problems:
            raise FieldProblems(problems)
        return self

    def _segment_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        kinds = {c.name: c.kind for c in self.monitored_columns}
        categorical = sorted(n for n, k in kinds.items() if k == "categorical")
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for i, name in enumerate(self.segments):
            if self.segments.index(name) != i:
                problems.append((("segments", i), f"{name!r} is listed twice"))
            elif kinds.get(name) != "categorical":
                what = "a numerical column" if name in kinds else "not a column of the model"
                problems.append(
                    (
                        ("segments", i),
                        f"{name!r} is {what}: a segment column is a categorical feature or prediction "
                        f"(declare it as one; categorical columns: {', '.join(categorical) or 'none'})",
                    )
                )
        return problems

    def _labels(
        self, problems: list[tuple[tuple[str | int, ...], str]]
    ) -> tuple[LabelsConfig, dict[str, Any]]:
        labels = self.labels
        assert labels is not None
        by_name = {c.name: c for c in self.predictions}

        def prediction(key: str, kind: str) -> str | None:
            name = getattr(labels, key)
            if name is None:  # default: the model's only prediction of that kind
                found = [c.name for c in self.predictions if c.kind == kind]
                return found[0] if len(found) == 1 else None
            if name not in by_name or by_name[name].kind != kind:
                problems.append((("labels", key), f"{name!r} is not a {kind} prediction of the model"))
            return name

        extra: dict[str, Any] = {"id_column": labels.id_column or self.id_column}
        if self.task == "classification" and labels.classes is not None:
            extra |= self._multiclass(labels, problems)
        elif self.task == "classification":
            if labels.score_columns is not None:
                problems.append((("labels", "score_columns"), "only for a multiclass model (set `classes`)"))
            extra["score_column"] = prediction("score_column", "numerical")
            extra["class_column"] = prediction("class_column", "categorical")
            if labels.positive_class is None:
                problems.append(
                    (("labels", "positive_class"), "required for a classifier (the positive label)")
                )
            if extra["score_column"] is None and extra["class_column"] is None:
                problems.append((("labels",), "a classifier needs a score_column or a class_column"))
        else:
            extra["prediction_column"] = prediction("prediction_column", "numerical")
            if extra["prediction_column"] is None:
                problems.append((("labels", "prediction_column"), "required: the numerical prediction"))
        return labels, extra

    def _multiclass(
        self, labels: LabelsConfig, problems: list[tuple[tuple[str | int, ...], str]]
    ) -> dict[str, Any]:
        """A multiclass classifier: >= 3 distinct classes, a categorical class column, and either every
        class's score column or none (CBPE and log loss need all of them)."""
        classes = labels.classes or ()
        kinds = {c.name: c.kind for c in self.predictions}
        if len(set(classes)) < 3 or len(set(classes)) != len(classes):
            problems.append(
                (("labels", "classes"), f"needs at least 3 distinct classes, got {list(classes)}")
            )
        if labels.positive_class is not None:
            problems.append((("labels", "positive_class"), "not for a multiclass model (`classes` is set)"))
        if labels.score_column is not None:
            problems.append((("labels", "score_column"), "multiclass models use `score_columns`"))
        class_column = labels.class_column
        if class_column is None:
            found = [n for n, k in kinds.items() if k == "categorical"]
            class_column = found[0] if len(found) == 1 else None
        if class_column is None:
            problems.append((("labels", "class_column"), "required: the categorical predicted class"))
        elif kinds.get(class_column) != "categorical":
            problems.append(
                (("labels", "class_column"), f"{class_column!r} is not a categorical prediction of the model")
            )
        scores = labels.score_columns
        if scores is None:  # default: score_<class> for every class when all are declared
            named = {c: f"score_{c}" for c in classes}
            scores = named if all(kinds.get(n) == "numerical" for n in named.values()) else {}
        else:
            if set(scores) != set(classes):
                problems.append(
                    (("labels", "score_columns"), f"needs one column per class {list(classes)}, "
                     f"got {sorted(scores)}")
                )  # fmt: skip
            for c, name in scores.items():
                if kinds.get(name) != "numerical":
                    problems.append(
                        (
                            ("labels", "score_columns", c),
                            f"{name!r} is not a numerical prediction of the model",
                        )
                    )
        return {"class_column": class_column, "score_columns": dict(scores), "score_column": None}

    @property
    def key_layout(self) -> KeyLayout:
        """The hour folders of the logs (`logs_layout` with its fields filled, validated at load)."""
        return key_layout(self.logs_layout, self.name, self.logs_fields)

    @property
    def event_time(self) -> bool:
        """An hour is the records whose timestamp is in it (read from its arrival folders)."""
        by = self.partition_by
        return by == "event_time" if by is not None else self.logs_layout in EVENT_TIME_PRESETS

    @property
    def arrival_folders(self) -> int:
        """How many arrival folders after its own an hour reads: 0 when partitioned by arrival."""
        return -(-self.max_arrival_delay_minutes // 60) if self.event_time else 0

    @property
    def lead_folders(self) -> int:
        """How many arrival folders before its own an hour reads (a sink's buffer that opened before the
        hour, named by its oldest record): 0 when partitioned by arrival."""
        if not self.event_time:
            return 0
        buffer = self.sink_buffer_minutes
        if buffer is None:
            buffer = FIREHOSE_BUFFER_MINUTES if self.logs_layout == "firehose" else 0
        return -(-buffer // 60)

    @property
    def multiclass(self) -> bool:
        return self.labels is not None and self.labels.classes is not None

    @property
    def monitored_columns(self) -> tuple[Column, ...]:
        return self.features + self.predictions

    @property
    def multivariate_on(self) -> bool:
        """Multivariate drift is measured (`multivariate.enabled`, default: at least 2 features)."""
        enabled = self.multivariate.enabled
        return len(self.features) >= 2 if enabled is None else enabled


class WebhookSink(Frozen):
    name: str = Field(description="its key in `alerting.sinks`")
    type: Literal["webhook"] = Field(description="`webhook`: a JSON POST")
    url_env: EnvName = Field(description="the NAME of the environment variable that holds the URL")
    format: Literal["json", "slack"] = Field(
        "json", description="`json` (the whole message) or `slack` (`{text}`)"
    )
    timeout_seconds: Annotated[Number, Field(gt=0.0)] = Field(5.0, description="per request")
    rate_limit_per_hour: Annotated[Whole, Field(ge=1)] = Field(
        30, description="messages an hour; the rest wait"
    )


class EmailSink(Frozen):
    name: str = Field(description="its key in `alerting.sinks`")
    type: Literal["email"] = Field(description="`email`: SMTP")
    host: Text = Field(description="the SMTP server")
    port: Annotated[Whole, Field(ge=1, le=65535)] = Field(25, description="its port")
    starttls: Flag = Field(False, description="upgrade the connection with STARTTLS")
    username_env: EnvName | None = Field(None, description="the NAME of the variable holding the SMTP user")
    password_env: EnvName | None = Field(None, description="the NAME of the variable holding the password")
    sender: Text = Field(description="the From address")
    to: Annotated[tuple[Text, ...], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)] = Field(
        min_length=1, description="one address or a list"
    )
    timeout_seconds: Annotated[Number, Field(gt=0.0)] = Field(10.0, description="per connection")
    rate_limit_per_hour: Annotated[Whole, Field(ge=1)] = Field(
        30, description="messages an hour; the rest wait"
    )

    @model_validator(mode="after")
    def _login_pair(self) -> EmailSink:
        if (self.username_env is None) != (self.password_env is None):
            raise FieldProblems([(("password_env",), "username_env and password_env go together")])
        return self


SinkConfig = Annotated[WebhookSink | EmailSink, Field(discriminator="type")]
SINK_TYPES = ("webhook", "email")  # the tags of SinkConfig (a test keeps them equal)


def _named_sinks(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for k, v in value.items():
        if isinstance(v, dict) and "name" in v:
            problems.append(((str(k), "name"), "not a field: a sink's name is its key"))
        if str(k) == "log":
            problems.append(
                ((str(k),), "'log' is the always-on JSON-lines log (alerting.log_path): pick another name")
            )
    if problems:
        raise FieldProblems(problems)
    return {k: {**v, "name": str(k)} if isinstance(v, dict) else v for k, v in value.items()}


class AlertingConfig(Frozen):
    log_path: Location = Field("data/alerts.jsonl", description="the JSON-lines log: every alert, always on")
    summarize_hours_older_than: Annotated[Number, Field(ge=0.0)] = Field(
        48.0, description="alerts for older hours are counted per check, not listed"
    )
    retry_base_seconds: Annotated[Number, Field(ge=0.0)] = Field(
        60.0, description="a failed sink is retried after this x 2^(attempts-1), at most an hour"
    )
    max_attempts: Annotated[Whole, Field(ge=1)] = Field(
        12, description="a delivery still failing after this many attempts is marked `failed`"
    )
    interval_seconds: Annotated[Number, Field(gt=0.0)] = Field(
        30.0, description="the alert sensor's interval"
    )
    sinks: Annotated[dict[str, SinkConfig], BeforeValidator(_named_sinks)] = Field(
        {}, description="webhooks and email servers by name (see Alerts)"
    )


class WarehouseConfig(Frozen):
    results: Text = Field(
        "data/results.sqlite",
        description="the results store: a SQLite file or a `postgresql://user@host:5432/db` URL "
        f"(env `{RESULTS_ENV}` overrides; a password goes there or in `PGPASSWORD`, never in the file)",
    )
    tables_root: Location = Field(
        "data/warehouse",
        alias="data",
        description="per-hour objects: a folder or `s3://bucket/prefix` "
        f"(env `{WAREHOUSE_DATA_ENV}` overrides)",
    )
    retention_days: Annotated[Whole, Field(ge=1)] = Field(
        400, description="per-hour objects and result rows older than this are deleted by the daily job"
    )

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "catalog" in data:
            raise FieldProblems(
                [
                    (
                        ("catalog",),
                        "the DuckDB catalog file is gone: results live in `warehouse.results` (a SQLite file "
                        "or a postgresql:// URL) and `monitoring-pipeline sql` builds its views per session; "
                        "remove the field",
                    )
                ]
            )
        data = dict(data)
        if os.environ.get(RESULTS_ENV):
            data["results"] = os.environ[RESULTS_ENV]
        if os.environ.get(WAREHOUSE_DATA_ENV):
            data.pop("tables_root", None)
            data["data"] = os.environ[WAREHOUSE_DATA_ENV]
        return data

    @field_validator("results")
    @classmethod
    def _resolve_results(cls, value: str, info: ValidationInfo) -> str:
        if value.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
            return value
        return _located(value, info)

    def __repr__(self) -> str:  # a PostgreSQL URL may carry a password: never print it
        return f"WarehouseConfig(results=<{self.results.split('://')[0]}>, tables_root={self.tables_root!r})"

    __str__ = __repr__


def _textfile(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    if not value.endswith(".prom"):
        raise ValueError(f"expected a path ending in .prom, or null; got {show(value)}")
    return _located(value, info)


class MonitorsConfig(Frozen):
    path: Path = Field(description="(the file itself)", exclude=True)
    warehouse: WarehouseConfig = Field(
        default_factory=dict, description="where results and per-hour objects go"
    )
    models: tuple[ModelConfig, ...] = Field(min_length=1, description="the monitored models")
    dagster_ui_url: Annotated[str, Strict()] = Field(
        "http://127.0.0.1:3000", description="base URL of the Dagster UI, for links in alerts"
    )
    alerting: AlertingConfig = Field(
        default_factory=dict, description="the alert sensor and its sinks (see Alerts)"
    )
    prometheus_textfile: Annotated[str, Strict()] | None = Field(
        "data/metrics/monitoring_pipeline.prom",
        description="Prometheus text format for node_exporter's textfile collector (null: not written)",
    )

    @field_validator("dagster_ui_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http(s):// URL; got {show(value)}")
        return value.rstrip("/")

    @field_validator("prometheus_textfile")
    @classmethod
    def _prom(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _textfile(value, info)

    @model_validator(mode="after")
    def _across_models(self) -> MonitorsConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        names = [m.name for m in self.models]
        for i, name in enumerate(names):
            if names.index(name) != i:
                problems.append((("models", i), "declared more than once"))
        known = ", ".join(sorted(self.alerting.sinks)) or "none defined"
        for i, model in enumerate(self.models):
            for j, route in enumerate(model.alerts):
                if route.sink not in self.alerting.sinks:  # shown only if it looks like a name, not a URL
                    shown = show(route.sink) if IDENTIFIER.match(route.sink) else "(not a sink name)"
                    where = ("models", i, "alerts", j, "sink")
                    problems.append((where, f"unknown sink {shown} (alerting.sinks: {known})"))
        if problems:
            raise FieldProblems(problems)
        return self

    def model(self, name: str) -> ModelConfig:
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(f"no model {name!r} in {self.path}; models: {[m.name for m in self.models]}")
