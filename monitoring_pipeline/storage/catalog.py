"""Every warehouse table, declared once: its name, schema, key and where it lives.

Two kinds of table:
- **Result tables** are row-level results (checks, alerts, drift, performance, per-hour facts). They live in
  the results store (SQLite by default, PostgreSQL for a multi-machine deployment): upserts by key in one
  transaction, reads by index. Their schema is the SQLAlchemy `Table` below; alembic migrations in
  `storage/migrations/` create them, and a test checks the migrated schema equals this one.
- **Object tables** are per-hour data: one object per (table, model, hour), found by its exact key. No
  reader ever globs one (the analyst's views are the only exception: a person's query, not a hot path).

No other module spells a table name, a key or a glob: they take them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes in and out. SQLite keeps them as naive UTC text; PostgreSQL as timestamptz."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the warehouse keeps UTC instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()
TS = UTCDateTime()


def _col(name: str, kind: Any, key: bool = False) -> sa.Column:
    return sa.Column(name, kind, primary_key=key, nullable=not key)


def _check_columns() -> list[sa.Column]:
    return [
        _col("model", sa.String, key=True),
        _col("check_name", sa.String, key=True),
        _col("partition_hour", TS, key=True),
        _col("asset", sa.String),
        _col("passed", sa.Boolean),
        _col("status", sa.String),
        _col("severity", sa.String),
        _col("observed", sa.Double),
        _col("threshold", sa.Double),
        _col("description", sa.Text),
        _col("details", sa.Text),  # JSON
        _col("run_id", sa.String),
        _col("evaluated_at", TS),
    ]


# The latest evaluation of each check on each hour (what reports, metrics and analysts read).
check_results = sa.Table(
    "check_results", metadata, *_check_columns(), sa.Index("ix_check_results_hour", "model", "partition_hour")
)
# Every evaluation, one row per check, hour and run (what the alert sensor reads, by run). The alert
# sensor stamps `alert_processed_at` once it has turned the evaluation into alerts (or none): a report
# compares it with check_results' latest run per check to say whether the hour's alerts are final.
check_history = sa.Table(
    "check_history",
    metadata,
    *[c if c.name != "run_id" else _col("run_id", sa.String, key=True) for c in _check_columns()],
    _col("alert_processed_at", TS),
    sa.Index("ix_check_history_run", "run_id", "model", "check_name"),
    sa.Index("ix_check_history_hour", "model", "partition_hour"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    _col("alert_id", sa.String, key=True),
    _col("sink", sa.String, key=True),
    _col("kind", sa.String),
    _col("model", sa.String),
    _col("asset", sa.String),
    _col("check_name", sa.String),
    _col("partition_hour", TS),
    _col("severity", sa.String),
    _col("observed", sa.Double),
    _col("threshold", sa.Double),
    _col("description", sa.Text),
    _col("url", sa.Text),
    _col("created_at", TS),
    _col("message_id", sa.String),
    _col("delivery_state", sa.String),
    _col("attempts", sa.BigInteger),
    _col("last_error", sa.Text),
    _col("updated_at", TS),
    sa.Index("ix_alerts_model_hour", "model", "partition_hour"),
    sa.Index("ix_alerts_message", "message_id", "sink"),
)
# What a later state change of a delivery updates; the alert's own fields are written once.
ALERT_DELIVERY_COLUMNS = ("message_id", "delivery_state", "attempts", "last_error", "updated_at")

# The outbox: one row per message to one sink, committed (with its alerts' rows) before any send, so a
# tick that dies mid-send resumes from here. `message_id` is also the receiver's idempotency key.
alert_messages = sa.Table(
    "alert_messages",
    metadata,
    _col("message_id", sa.String, key=True),
    _col("sink", sa.String),
    _col("model", sa.String),
    _col("partition_hour", TS),  # the newest hour the message is about (what retention goes by)
    _col("payload", sa.Text),  # JSON: what is sent, byte for byte, on every attempt
    _col("delivery_state", sa.String),  # pending | sending | retrying | delivered | failed
    _col("attempts", sa.BigInteger),
    _col("next_at", TS),
    _col("last_error", sa.Text),
    _col("log_offset", sa.BigInteger),  # the log sink: the file's size before this message's lines
    _col("created_at", TS),
    _col("updated_at", TS),
    _col("delivered_at", TS),
    sa.Index("ix_alert_messages_due", "delivery_state", "next_at"),
    sa.Index("ix_alert_messages_sent", "sink", "delivered_at"),
    sa.Index("ix_alert_messages_hour", "model", "partition_hour"),
)

# Failed runs of a model's job: open until a later run of the model succeeds on all of its hours.
run_failures = sa.Table(
    "run_failures",
    metadata,
    _col("model", sa.String, key=True),
    _col("run_id", sa.String, key=True),
    _col("partition_hour", TS),  # the run's first hour
    _col("last_hour", TS),
    _col("open_hours", sa.Text),  # JSON: the hours no later run has succeeded on yet
    _col("job", sa.String),
    _col("step", sa.String),
    _col("error", sa.Text),
    _col("failed_at", TS),
    _col("recovered_by", sa.String),  # the run that succeeded on its hours
    _col("recovered_at", TS),
    sa.Index("ix_run_failures_open", "model", "recovered_at"),
    sa.Index("ix_run_failures_hour", "model", "partition_hour"),
)


def _drift_result_columns() -> list[sa.Column]:
    """A column's drift in an hour: what drift_metrics and segment_drift_metrics both hold."""
    return [
        _col("role", sa.String),
        _col("kind", sa.String),
        _col("test", sa.String),
        _col("score_kind", sa.String),
        _col("score", sa.Double),
        _col("threshold", sa.Double),
        _col("p_value", sa.Double),
        _col("alpha", sa.Double),
        _col("drifted", sa.Boolean),
        _col("status", sa.String),
        _col("reference_rows", sa.BigInteger),
        _col("current_rows", sa.BigInteger),
        _col("reference_window", sa.Text),
        _col("details", sa.Text),  # JSON
        _col("computed_at", TS),
    ]


drift_metrics = sa.Table(
    "drift_metrics",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),
    _col("feature", sa.String, key=True),
    *_drift_result_columns(),
)

# Drift per segment (model.segments: one value of one segment column, e.g. `country=DE`; the rest of a
# column's values pooled as `country=__other__`). Its own table, not rows of drift_metrics: the whole
# population's rows keep their key, and what reads them (reports, Grafana, Prometheus) is unchanged.
segment_drift_metrics = sa.Table(
    "segment_drift_metrics",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),
    _col("segment", sa.String, key=True),  # `<column>=<value>`
    _col("feature", sa.String, key=True),
    _col("segment_column", sa.String),
    _col("segment_value", sa.String),
    *_drift_result_columns(),
    _col("q_value", sa.Double),  # Benjamini-Hochberg adjusted over the hour's judged segments x columns
    _col("judged", sa.Boolean),  # both sides had at least min_segment_rows rows
)

segment_drift_summary = sa.Table(
    "segment_drift_summary",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),
    _col("segment", sa.String, key=True),
    _col("segment_column", sa.String),
    _col("segment_value", sa.String),
    _col("rows", sa.BigInteger),
    _col("reference_rows", sa.BigInteger),
    _col("judged", sa.Boolean),
    _col("features", sa.BigInteger),
    _col("evaluated", sa.BigInteger),
    _col("drifted", sa.BigInteger),
    _col("drift_share", sa.Double),
    _col("min_q_value", sa.Double),
    _col("drifted_features", sa.Text),  # JSON list
    _col("note", sa.Text),  # why the segment was not judged
    _col("reference_window", sa.Text),
    _col("computed_at", TS),
    sa.Index("ix_segment_drift_summary_hour", "partition_hour"),
)

# Multivariate drift: the hour's mean PCA reconstruction error against the reference's band.
multivariate_drift = sa.Table(
    "multivariate_drift",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),
    _col("rows", sa.BigInteger),
    _col("reconstruction_error", sa.Double),
    _col("expected_error", sa.Double),  # the reference hours' (each left out of its own fit)
    _col("lower_threshold", sa.Double),
    _col("upper_threshold", sa.Double),
    _col("components", sa.BigInteger),
    _col("explained_variance", sa.Double),
    _col("reference_hours", sa.BigInteger),
    _col("reference_rows", sa.BigInteger),
    _col("drifted", sa.Boolean),
    _col("status", sa.String),
    _col("reference_window", sa.Text),
    _col("details", sa.Text),  # JSON
    _col("computed_at", TS),
    sa.Index("ix_multivariate_drift_hour", "partition_hour"),
)

drift_summary = sa.Table(
    "drift_summary",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),
    _col("features", sa.BigInteger),
    _col("evaluated", sa.BigInteger),
    _col("drifted", sa.BigInteger),
    _col("drift_share", sa.Double),
    _col("prediction_drifted", sa.Boolean),
    _col("prediction_score", sa.Double),
    _col("drifted_features", sa.Text),  # JSON list
    _col("reference_window", sa.Text),
    _col("computed_at", TS),
    sa.Index("ix_drift_summary_hour", "partition_hour"),
)

CLASSIFICATION_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "positive_rate",
    "roc_auc",
    "log_loss",
    "brier",
    "calibration_error",
)
# multiclass classifiers: averages over the classes (per class: `per_class`; counts: `confusion`)
MULTICLASS_METRICS = (
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_precision",
    "weighted_recall",
    "weighted_f1",
)
REGRESSION_METRICS = ("mae", "rmse", "mape", "r2")


def _performance_columns(*extra_key: str) -> list[sa.Column]:
    return [
        _col("model", sa.String, key=True),
        _col("partition_hour", TS, key=True),
        _col("predictions", sa.BigInteger),
        _col("labelled", sa.BigInteger),
        _col("label_coverage", sa.Double),
        _col("label_hours", sa.BigInteger),
        _col("labels_loaded_through", TS),
        *[_col(m, sa.Double) for m in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)],
        _col("estimated_accuracy", sa.Double),
        _col("estimated_roc_auc", sa.Double),
        *[_col(m, sa.Double) for m in MULTICLASS_METRICS],
        _col("estimated_macro_f1", sa.Double),
        _col("per_class", sa.Text),  # JSON: {class: {precision, recall, f1, support, predicted}}
        _col("confusion", sa.Text),  # JSON: {"classes": [...], "matrix": [[label i predicted j]]}
        _col("metric", sa.String),
        _col("metric_value", sa.Double),
        _col("metric_se", sa.Double),
        _col("baseline_value", sa.Double),
        _col("baseline_hours", sa.BigInteger),
        _col("notes", sa.Text),  # JSON
        _col("calibration", sa.Text),  # JSON: [{bin, n, positives}]
        _col("computed_at", TS, key="computed_at" in extra_key),
    ]


model_performance = sa.Table("model_performance", metadata, *_performance_columns())
model_performance_history = sa.Table(
    "model_performance_history", metadata, *_performance_columns("computed_at")
)

# What checks need about each loaded hour, without opening its objects.
hour_facts = sa.Table(
    "hour_facts",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),
    _col("rows", sa.BigInteger),
    _col("objects", sa.BigInteger),
    _col("bytes", sa.BigInteger),
    _col("newest_object_at", TS),
    _col("loaded_at", TS),
    # partition_by event_time (NULL otherwise, and for hours loaded before migration 0006): records of the
    # hour's own arrival folder whose event hour's window does not reach it (late: an older hour; early: a
    # later one), the JSON / CSV lines skipped, and the objects read from all the hour's arrival folders
    _col("late_records", sa.BigInteger),
    _col("early_records", sa.BigInteger),
    _col("bad_lines", sa.BigInteger),
    _col("arrival_objects", sa.BigInteger),
)

# The late and early records of each arrival hour (see hour_facts) by the event hour they belong to, so
# "how much of hour H landed too late to count" is a query by event_hour.
late_arrivals = sa.Table(
    "late_arrivals",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),  # the arrival folder's hour (whose load counted them)
    _col("event_hour", TS, key=True),
    _col("kind", sa.String),  # late | early
    _col("rows", sa.BigInteger),
)

# The hour's prediction ids as a sorted array of 64-bit fingerprints (`md5_number_lower` of the id as text,
# little-endian uint64), so the labels' id -> prediction-hour lookup reads 8 bytes per id of each hour
# here, not the hours' logs. Kept `max_delay_hours` + 1 day (retention); an older hour is rebuilt from
# its logs.
prediction_ids = sa.Table(
    "prediction_ids",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),
    _col("ids", sa.BigInteger),  # distinct non-null ids
    _col("fingerprints", sa.LargeBinary),
)

# What was loaded of each *arrival* hour of labels (the labels' hour_facts).
label_facts = sa.Table(
    "label_facts",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),  # the arrival hour
    _col("rows", sa.BigInteger),
    _col("matched", sa.BigInteger),
    _col("unknown_ids", sa.BigInteger),
    _col("objects", sa.BigInteger),
    _col("bytes", sa.BigInteger),
    _col("loaded_at", TS),
)
# Which arrival hours hold labels for a prediction hour, and how many: performance reads only those.
label_links = sa.Table(
    "label_links",
    metadata,
    _col("model", sa.String, key=True),
    _col("partition_hour", TS, key=True),  # the prediction hour
    _col("arrival_hour", TS, key=True),
    _col("labels", sa.BigInteger),
    sa.Index("ix_label_links_arrival", "model", "arrival_hour"),
)

RESULT_TABLES: tuple[sa.Table, ...] = tuple(metadata.sorted_tables)


def key_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


@dataclass(frozen=True)
class ObjectTable:
    """Per-hour data: one object per (model, hour) at `<name>/<model>/dt=YYYY-MM-DD/hour=HH<suffix>`."""

    name: str
    suffix: str = ".parquet"
    per_model_view: bool = False  # analysts read `<model>.<name>`; otherwise `main.<name>` over every model

    def key(self, model: str, hour: datetime) -> str:
        hour = hour.astimezone(UTC)
        return f"{self.name}/{model}/dt={hour:%Y-%m-%d}/hour={hour:%H}{self.suffix}"

    def day_prefix(self, model: str, day: datetime) -> str:
        return f"{self.name}/{model}/dt={day:%Y-%m-%d}/"

    def model_prefix(self, model: str) -> str:
        return f"{self.name}/{model}/"

    def analyst_glob(self, model: str = "*") -> str:
        """Every object of the model (or all): for a person's query (a view), never the pipeline's reads."""
        return f"{self.name}/{model}/*/*{self.suffix}"


prediction_logs = ObjectTable("prediction_logs", per_model_view=True)
feature_profiles = ObjectTable("feature_profiles")
reference_profiles = ObjectTable("reference_profiles")
# model.segments: the hour's profiles per segment (feature_profiles' columns + `segment`), and a static
# reference's (fixed window or file) per segment, stored once under STATIC_HOUR
segment_profiles = ObjectTable("segment_profiles")
segment_reference_profiles = ObjectTable("segment_reference_profiles")
labels = ObjectTable("labels")
reports = ObjectTable("reports", ".html")
# a uniform sample of the hour's feature rows (model.multivariate.sample_rows): what multivariate drift's
# reference is fitted on, without reading the reference hours' logs
row_samples = ObjectTable("row_samples", per_model_view=True)

OBJECT_TABLES: tuple[ObjectTable, ...] = (
    prediction_logs,
    feature_profiles,
    reference_profiles,
    segment_profiles,
    segment_reference_profiles,
    labels,
    row_samples,
)
HOURLY_OBJECT_TABLES: tuple[ObjectTable, ...] = (*OBJECT_TABLES, reports)
# Fixed and file references are stored once, under this hour.
STATIC_HOUR = datetime(1970, 1, 1, tzinfo=UTC)
