"""Realistic demo prediction logs for three models, with known, documented incidents.

`seed_demo` writes `hours` UTC hours ending just before `end` (default: the current hour) for
`fraud_classifier` (binary classifier, numerical + categorical features),
`delivery_time_regressor` (regressor) and `ticket_router` (a small multiclass classifier: 3 queues, a
few hundred tickets an hour). Hours are numbered from 0 (the oldest). Volume follows a daily cycle
(thousands of rows per hour for the first two), and each hour is written as two objects, one per
serving replica, as a real fleet would, or as Kinesis Data Firehose delivers them (`demo_sinks`).
Deterministic for a given seed and end hour.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_pipeline.config.demo_window import DEMO_HOURS, DEMO_LAYOUT_DEFAULT, DEMO_LAYOUTS
from monitoring_pipeline.demo_sinks import FirehoseDelivery
from monitoring_pipeline.storage import layout
from monitoring_pipeline.storage.object_store import LocalObjectStore, ObjectStore, open_store

DEMO_MODELS = ("fraud_classifier", "delivery_time_regressor", "ticket_router")
DEFAULT_HOURS = DEMO_HOURS


@dataclass(frozen=True)
class Incident:
    model: str
    kind: str
    feature: str | None
    first_hour: int
    last_hour: int
    description: str


# Hour indices count from the first demo hour (0) and must fall inside DEFAULT_HOURS.
INCIDENTS: tuple[Incident, ...] = (
    Incident("fraud_classifier", "empty hour", None, 30, 30,
             "the replicas wrote their files but they hold zero rows"),
    Incident("fraud_classifier", "missing hour", None, 31, 31, "no objects at all under the hour's prefix"),
    Incident("fraud_classifier", "regional shift", "n_transactions_24h", 34, 39,
             "Germany only (12% of traffic): a payment gateway's retries log one extra transaction per "
             "card, so n_transactions_24h is one higher there; too small a change to see overall"),
    Incident("fraud_classifier", "null spike", "device_type", 40, 41,
             "35% of device_type values are null (a client SDK release dropped the field)"),
    Incident("fraud_classifier", "gradual drift", "amount", 48, 95,
             "transaction amounts grow steadily: the log-mean rises linearly, x1.8 by the last hour"),
    Incident("fraud_classifier", "new category", "merchant_category", 60, 95,
             "a new merchant category 'crypto' appears and takes 10% of traffic"),
    Incident("fraud_classifier", "values capped", "distance_km", 70, 75,
             "an upstream pipeline clips distance_km at 50 km"),
    Incident("fraud_classifier", "concept drift", None, 76, 83,
             "account takeovers: fraud moves to long-standing accounts buying online, which the model "
             "scores low; the labels change, the inputs do not"),
    Incident("delivery_time_regressor", "missing hour", None, 20, 20,
             "no objects at all under the hour's prefix"),
    Incident("delivery_time_regressor", "sudden shift", "distance_km", 80, 87,
             "unit bug: distance_km is sent in metres (x1000); predicted_minutes shifts with it"),
    Incident("ticket_router", "class surge", None, 60, 65,
             "a login outage: the share of `account` tickets doubles (20% -> 40%), and the outage's "
             "tickets (75% of them) read like technical problems, so the model routes them to "
             "`technical`: its recall on `account` falls from ~0.65 to ~0.2"),
)  # fmt: skip

FRAUD_CATEGORIES = {
    "merchant_category": (["grocery", "restaurants", "fuel", "electronics", "travel", "online"],
                          [0.30, 0.20, 0.15, 0.12, 0.08, 0.15]),
    "country": (["US", "GB", "DE", "FR", "CA", "IN"], [0.50, 0.15, 0.12, 0.10, 0.08, 0.05]),
    "device_type": (["mobile", "desktop", "tablet"], [0.6, 0.3, 0.1]),
}  # fmt: skip
DELIVERY_CATEGORIES = {
    "weather": (["clear", "rain", "fog", "snow"], [0.60, 0.25, 0.10, 0.05]),
    "region": (["north", "south", "east", "west", "central"], [0.2, 0.2, 0.2, 0.2, 0.2]),
}


def incident_active(model: str, kind: str, index: int) -> bool:
    return any(
        i.model == model and i.kind == kind and i.first_hour <= index <= i.last_hour for i in INCIDENTS
    )


def hourly_volume(base: int, hour: datetime) -> int:
    """A daily cycle: busiest mid-afternoon UTC, quietest before dawn."""
    return int(base * (1 + 0.4 * np.sin(2 * np.pi * (hour.hour - 8) / 24)))


def _categorical(rng: np.random.Generator, spec: tuple[list[str], list[float]], n: int) -> pd.Series:
    values, probs = spec  # typed as strings even when empty, as a serving fleet's schema would be
    return pd.Series(rng.choice(np.array(values, dtype=object), size=n, p=probs), dtype="str")


def _frame_header(model: str, hour: datetime, n: int, rng: np.random.Generator) -> dict[str, object]:
    offsets = np.sort(rng.integers(0, 3_600_000_000, size=n))
    return {
        "event_time": pd.to_datetime(hour) + pd.to_timedelta(offsets, unit="us"),
        "prediction_id": pd.Series([f"{model[:5]}-{hour:%Y%m%d%H}-{i:06d}" for i in range(n)], dtype="str"),
    }


def fraud_hour(index: int, hour: datetime, rng: np.random.Generator, base: int = 3000) -> pd.DataFrame:
    m = "fraud_classifier"
    n = 0 if incident_active(m, "empty hour", index) else hourly_volume(base, hour)
    log_mean = 3.5 + (0.6 * (index - 47) / 48 if incident_active(m, "gradual drift", index) else 0.0)
    amount = rng.lognormal(log_mean, 1.0, n)
    distance = rng.exponential(20.0, n)
    if incident_active(m, "values capped", index):
        distance = np.minimum(distance, 50.0)
    frame = pd.DataFrame(_frame_header(m, hour, n, rng))
    frame["amount"] = amount.round(2)
    frame["account_age_days"] = rng.gamma(2.0, 200.0, n).round(1)
    frame["n_transactions_24h"] = rng.poisson(3.0, n).astype("int64")
    frame["distance_km"] = distance.round(3)
    for column, spec in FRAUD_CATEGORIES.items():
        frame[column] = _categorical(rng, spec, n)
    if incident_active(m, "regional shift", index):  # no random draw: the other data stay as they were
        frame.loc[frame["country"] == "DE", "n_transactions_24h"] += 1
    if incident_active(m, "new category", index):
        frame.loc[rng.random(n) < 0.10, "merchant_category"] = "crypto"
    if incident_active(m, "null spike", index):
        frame.loc[rng.random(n) < 0.35, "device_type"] = None
    logit = -5.0 + 0.45 * np.log1p(amount) + 0.02 * distance - 0.002 * frame["account_age_days"].to_numpy()
    logit += np.where(frame["merchant_category"].to_numpy() == "electronics", 0.8, 0.0)
    frame["score"] = (1 / (1 + np.exp(-(logit + rng.normal(0, 0.3, n))))).round(5)
    frame["predicted_class"] = pd.Series(np.where(frame["score"] >= 0.5, "fraud", "legit"), dtype="str")
    return frame


def delivery_hour(index: int, hour: datetime, rng: np.random.Generator, base: int = 2000) -> pd.DataFrame:
    m = "delivery_time_regressor"
    n = hourly_volume(base, hour)
    frame = pd.DataFrame(_frame_header(m, hour, n, rng))
    distance = rng.gamma(2.0, 2.5, n)
    items = rng.poisson(3.0, n) + 1
    load = rng.beta(2.0, 5.0, n) * 10
    prep = np.clip(rng.normal(12.0, 3.0, n), 1.0, None)
    for column, spec in DELIVERY_CATEGORIES.items():
        frame[column] = _categorical(rng, spec, n)
    if incident_active(m, "sudden shift", index):
        distance = distance * 1000.0  # the feature arrives in metres; the model believes it is km
    weather_delay = np.where(frame["weather"].to_numpy() == "snow", 8.0, 0.0)
    frame["distance_km"] = distance.round(3)
    frame["items"] = items.astype("int64")
    frame["courier_load"] = load.round(3)
    frame["prep_time_min"] = prep.round(2)
    predicted = 10 + 3.0 * distance + prep + 2.0 * items + 0.8 * load + weather_delay + rng.normal(0, 2, n)
    frame["predicted_minutes"] = predicted.round(2)
    return frame


TICKET_CLASSES = ("billing", "technical", "account")
TICKET_SHARES = (0.5, 0.3, 0.2)
TICKET_CHANNELS = ("email", "chat", "phone")
HIDDEN = "_true_class"  # what the serving fleet does not log: dropped before writing, read by the labeler


def ticket_hour(index: int, hour: datetime, rng: np.random.Generator, base: int = 500) -> pd.DataFrame:
    """Support tickets routed to a queue. Each ticket has a true queue; the model sees noisy evidence of
    it and reports the softmax of that evidence (calibrated: the labeler draws the resolved queue from
    the same probabilities). During the class surge `account` tickets double (20 % -> 40 % of traffic)
    and 75 % of them (the outage's) carry the evidence of a technical ticket."""
    m = "ticket_router"
    n = hourly_volume(base, hour)
    k = len(TICKET_CLASSES)
    shares = np.array(TICKET_SHARES)
    surge = incident_active(m, "class surge", index)
    if surge:  # account doubles to 40 %; the others keep their proportions
        shares = np.r_[shares[:2] * 0.6 / shares[:2].sum(), 0.4]
    true = rng.choice(k, size=n, p=shares)
    looks_like = true.copy()
    if surge:  # 3 in 4 account tickets are outage tickets, which read like technical ones
        outage = (true == 2) & (rng.random(n) < 0.75)
        looks_like[outage] = 1
    logits = 2.2 * np.eye(k)[looks_like] + rng.normal(0, 1.0, (n, k)) + np.log(TICKET_SHARES)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame(_frame_header(m, hour, n, rng))
    frame["message_length"] = rng.lognormal(np.array([5.0, 5.6, 4.6])[looks_like], 0.5).round(0)
    frame["customer_tenure_days"] = rng.gamma(2.0, 300.0, n).round(1)
    channel_p = np.array([[0.6, 0.3, 0.1], [0.3, 0.5, 0.2], [0.3, 0.3, 0.4]])[looks_like]
    channel = (rng.random(n)[:, None] > np.cumsum(channel_p, axis=1)).sum(axis=1)
    frame["channel"] = pd.Series(np.array(TICKET_CHANNELS, dtype=object)[channel], dtype="str")
    frame["predicted_queue"] = pd.Series(
        np.array(TICKET_CLASSES, dtype=object)[probs.argmax(axis=1)], dtype="str"
    )
    for i, c in enumerate(TICKET_CLASSES):
        frame[f"score_{c}"] = probs[:, i].round(5)
    # the resolved queue: drawn from the model's probabilities (calibrated), except the outage tickets
    resolved = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, k - 1)
    resolved[looks_like != true] = true[looks_like != true]
    frame[HIDDEN] = pd.Series(np.array(TICKET_CLASSES, dtype=object)[resolved], dtype="str")
    return frame


GENERATORS: dict[str, Callable[[int, datetime, np.random.Generator], pd.DataFrame]] = {
    "fraud_classifier": fraud_hour,
    "delivery_time_regressor": delivery_hour,
    "ticket_router": ticket_hour,
}


def demo_hours(end: datetime | None = None, hours: int = DEFAULT_HOURS) -> list[datetime]:
    """The demo's UTC hours, oldest first, ending with the hour before `end` (default: now)."""
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [end - timedelta(hours=hours - i) for i in range(hours)]


def write_hour(store: ObjectStore, model: str, hour: datetime, frame: pd.DataFrame, replicas: int = 2) -> int:
    """Write one hour as `replicas` Parquet objects; return the number of objects written."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    with tempfile.TemporaryDirectory(prefix="monitoring-demo-") as tmp:
        for replica, chunk in enumerate(np.array_split(np.arange(len(frame)), replicas)):
            table = pa.Table.from_pandas(frame.iloc[chunk], schema=schema, preserve_index=False)
            local = Path(tmp) / f"replica-{replica}.parquet"
            pq.write_table(table, local)
            written = store.put_file(local, layout.hour_prefix(model, hour) + f"replica-{replica}.parquet")
            if isinstance(store, LocalObjectStore):  # landed a few minutes after the hour, as in production
                landed = (hour + timedelta(hours=1, minutes=3 + 4 * replica)).timestamp()
                os.utime(written, (landed, landed))
    return replicas


def seed_demo(
    stores: dict[str, ObjectStore],
    end: datetime | None = None,
    hours: int = DEFAULT_HOURS,
    seed: int = 7,
    labels: dict[str, ObjectStore] | None = None,
    layout: str = DEMO_LAYOUT_DEFAULT,
) -> dict[str, int]:
    """Write the demo logs for each model in `stores` in a key layout of `DEMO_LAYOUTS` (hive: two
    Parquet objects per hour; firehose: see demo_sinks) and, for models in `labels`, the labels that
    have arrived by `end`, by arrival hour (hive); return rows written per model. The records are the
    same in every layout."""
    if layout not in DEMO_LAYOUTS:
        raise ValueError(f"demo layout {layout!r}: expected one of {', '.join(DEMO_LAYOUTS)}")
    rows: dict[str, int] = {}
    hour_list = demo_hours(end, hours)
    for model, store in stores.items():
        generate = GENERATORS[model]
        rng = np.random.default_rng([seed, DEMO_MODELS.index(model)])
        label_rng = np.random.default_rng([seed, DEMO_MODELS.index(model), 2])  # logs stay as without labels
        stream = None
        if layout == "firehose":  # arrival delays and object names: draws of its own, logs stay the same
            stream_rng = np.random.default_rng([seed, DEMO_MODELS.index(model), 3])
            stream = FirehoseDelivery(store, model, stream_rng, time_column="event_time")
            stream.clear(hour_list)
        rows[model] = 0
        arrived = []
        for index, hour in enumerate(hour_list):
            if incident_active(model, "missing hour", index):
                continue
            frame = generate(index, hour, rng)
            logged = frame.drop(columns=[HIDDEN], errors="ignore")
            if stream is None:
                write_hour(store, model, hour, logged)
            else:
                stream.put(logged, hour)
            rows[model] += len(frame)
            if labels and model in labels:
                arrived.append(LABELERS[model](index, frame, label_rng))
        if stream is not None:
            stream.close()
        if arrived:
            write_labels(labels[model], model, pd.concat(arrived, ignore_index=True), hour_list[-1])
    return rows


def fraud_labels(index: int, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Every transaction's outcome (chargeback or not), known 1-72 hours later (median ~11 h). The model's
    score is calibrated: the outcome is drawn with the score's probability, except during the concept
    drift incident, when fraud follows a pattern the model never learned (account takeovers)."""
    n = len(frame)
    p = frame["score"].to_numpy(dtype=float)
    if incident_active("fraud_classifier", "concept drift", index):
        takeover = (frame["account_age_days"].to_numpy() > 500) & (
            frame["merchant_category"].to_numpy() == "online"
        )
        p = np.where(takeover, 0.6, 0.01)
    delay = np.minimum(1 + rng.lognormal(np.log(10), 0.8, n), 72)
    return pd.DataFrame(
        {
            "prediction_id": frame["prediction_id"],
            "is_fraud": pd.Series(np.where(rng.random(n) < p, "fraud", "legit"), dtype="str"),
            "arrival": frame["event_time"] + pd.to_timedelta(delay, unit="h"),
        }
    )


def delivery_labels(index: int, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The delivery's real duration, known when it is delivered. During the unit-bug incident the
    logged distance (and so the prediction) is off by x1000; the real duration follows the true one."""
    n = len(frame)
    distance = frame["distance_km"].to_numpy(dtype=float)
    if incident_active("delivery_time_regressor", "sudden shift", index):
        distance = distance / 1000.0
    snow = np.where(frame["weather"].to_numpy() == "snow", 8.0, 0.0)
    actual = (
        10
        + 3.0 * distance
        + frame["prep_time_min"].to_numpy(dtype=float)
        + 2.0 * frame["items"].to_numpy(dtype=float)
        + 0.8 * frame["courier_load"].to_numpy(dtype=float)
        + snow
        + rng.normal(0, 4, n)
    )
    return pd.DataFrame(
        {
            "prediction_id": frame["prediction_id"],
            "actual_minutes": np.maximum(actual, 1.0).round(2),
            "arrival": frame["event_time"] + pd.to_timedelta(np.maximum(actual, 1.0) + 5, unit="m"),
        }
    )


def ticket_labels(index: int, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The queue an agent resolved the ticket in, known when it is resolved: 1-12 hours later (median
    ~3 h)."""
    n = len(frame)
    delay = np.minimum(1 + rng.lognormal(np.log(2), 0.7, n), 12)
    return pd.DataFrame(
        {
            "prediction_id": frame["prediction_id"],
            "resolved_queue": frame[HIDDEN],
            "arrival": frame["event_time"] + pd.to_timedelta(delay, unit="h"),
        }
    )


LABELERS: dict[str, Callable[[int, pd.DataFrame, np.random.Generator], pd.DataFrame]] = {
    "fraud_classifier": fraud_labels,
    "delivery_time_regressor": delivery_labels,
    "ticket_router": ticket_labels,
}


def write_labels(store: ObjectStore, model: str, labels: pd.DataFrame, last_hour: datetime) -> int:
    """One object per arrival hour, for the labels that arrived before the end of `last_hour`."""
    arrival = labels.pop("arrival")
    hours = arrival.dt.floor("h")
    written = 0
    end = pd.Timestamp(last_hour) + pd.Timedelta(hours=1)
    with tempfile.TemporaryDirectory(prefix="monitoring-demo-") as tmp:
        for hour, chunk in labels[arrival < end].groupby(hours[arrival < end]):
            local = Path(tmp) / "labels.parquet"
            pq.write_table(pa.Table.from_pandas(chunk, preserve_index=False), local)
            landed = hour.to_pydatetime()
            path = store.put_file(local, layout.hour_prefix(model, landed) + "labels.parquet")
            if isinstance(store, LocalObjectStore):
                stamp = (landed + timedelta(hours=1, minutes=2)).timestamp()
                os.utime(path, (stamp, stamp))
            written += 1
    return written


def training_frame(model: str, end: datetime | None = None, hours: int = 24, seed: int = 7) -> pd.DataFrame:
    """Reference data as a model team would keep it: `hours` incident-free hours just before the demo."""
    rng = np.random.default_rng([seed, DEMO_MODELS.index(model), 1])
    first = demo_hours(end)[0]
    frames = [GENERATORS[model](-1, first - timedelta(hours=hours - i), rng) for i in range(hours)]
    return pd.concat(frames, ignore_index=True).drop(columns=[HIDDEN], errors="ignore")


def write_training_file(location: str, frame: pd.DataFrame) -> None:
    """Write a reference Parquet file to a local path or an s3:// URI."""
    parent, _, name = location.rpartition("/")
    with tempfile.TemporaryDirectory(prefix="monitoring-demo-") as tmp:
        local = Path(tmp) / name
        frame.to_parquet(local, index=False)
        open_store(parent).put_file(local, name)
