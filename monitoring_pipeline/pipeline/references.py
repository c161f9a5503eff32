"""What drift is measured against, per model (no Dagster): the merge of hourly profiles over a window
(trailing: the N hours before each hour; fixed: one window), or the profile of a training file.

A fixed window's reference is built once all its hours are profiled, by whichever step first finds
them so (the drift of the run that profiled the last one, the `reference_profile` asset, or
`monitoring-pipeline reference`); until then the hours' drift has no reference (`no_reference`). A
partial window is refused unless asked for (`allow_partial`), naming the hours still missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline.profiling import profile_parquet, profiles_from_table, profiles_to_table
from monitoring_pipeline.stats.profiles import Profile, merge_profiles
from monitoring_pipeline.storage import catalog, duck
from monitoring_pipeline.storage.catalog import STATIC_HOUR, ObjectTable
from monitoring_pipeline.storage.object_store import fetch_file
from monitoring_pipeline.storage.warehouse import Warehouse


class MissingInputError(RuntimeError):
    """An upstream partition this computation needs has not been materialized."""


class IncompleteReferenceError(MissingInputError):
    """A fixed reference window whose hours are not all profiled (and a partial one was not asked for)."""


def roles(model: ModelConfig) -> dict[str, str]:
    return {c.name: "feature" for c in model.features} | {c.name: "prediction" for c in model.predictions}


def load_profiles(
    warehouse: Warehouse, table: ObjectTable, model: str, hours: list[datetime]
) -> dict[datetime, dict[str, Profile]]:
    paths = warehouse.fetch_hours(table, model, hours)
    return {h: profiles_from_table(pq.read_table(p)) for h, p in paths.items()}


@dataclass(frozen=True)
class Reference:
    description: str
    start: datetime | None
    end: datetime | None
    hours_found: int
    hours_expected: int
    profiles: dict[str, Profile]
    missing: tuple[datetime, ...] = ()  # the window's hours that had no profile

    @property
    def complete(self) -> bool:
        return self.hours_found == self.hours_expected


def reference_hours(model: ModelConfig, hour: datetime) -> list[datetime]:
    ref = model.reference
    if ref.type == "trailing":
        return [hour - timedelta(hours=k) for k in range(ref.hours, 0, -1)]
    assert ref.start is not None and ref.end is not None
    return [ref.start + timedelta(hours=k) for k in range(int((ref.end - ref.start).total_seconds() // 3600))]


def is_static(model: ModelConfig) -> bool:
    """Fixed windows and files give one reference for every hour; trailing windows one per hour."""
    return model.reference.type != "trailing"


def build_static_reference(
    model: ModelConfig, warehouse: Warehouse, allow_partial: bool = False
) -> Reference:
    """The one reference of a fixed window or a file. A fixed window with hours still unprofiled raises
    IncompleteReferenceError, unless `allow_partial` (and at least one hour is profiled)."""
    if model.reference.type == "fixed":
        built = build_reference(model, STATIC_HOUR, warehouse)
        if not built.complete and not (allow_partial and built.hours_found):
            raise IncompleteReferenceError(incomplete_message(model, built.hours_found, built.missing))
        return built
    path = model.reference.path
    assert path is not None
    with duck.scratch() as conn:
        local = fetch_file(path)
        names = set(conn.read_parquet(str(local), hive_partitioning=False).columns)
        missing = [c.name for c in model.monitored_columns if c.name not in names]
        if missing:
            raise ValueError(
                f"reference file {path}: missing column(s) {missing} declared for model {model.name!r}"
            )
        profiles = profile_parquet(conn, local, model.monitored_columns)
    rows = max((p.rows for p in profiles.values()), default=0)
    return Reference(f"file {path} ({rows} rows)", None, None, 0, 0, profiles)


def unprofiled_hours(model: ModelConfig, warehouse: Warehouse) -> tuple[int, tuple[datetime, ...]]:
    """A fixed window's profiled hour count and its hours without a profile (listing only)."""
    window = reference_hours(model, STATIC_HOUR)
    present = warehouse.hours_present(catalog.feature_profiles, model.name, window)
    return len(present), tuple(h for h in window if h not in present)


def incomplete_message(model: ModelConfig, found: int, missing: tuple[datetime, ...]) -> str:
    """Why a fixed window's reference was not built, and what to run about it."""
    ref = model.reference
    spans = hour_spans(missing)
    shown = ", ".join(spans[:3]) + (f" and {len(spans) - 3} more span(s)" if len(spans) > 3 else "")
    return (
        f"{model.name}: the fixed reference window [{ref.start:%Y-%m-%d %H:00}, {ref.end:%Y-%m-%d %H:00}) "
        f"has {found}/{found + len(missing)} hours profiled; missing {len(missing)}: {shown}. Backfill them "
        f"(monitoring-pipeline backfill --model {model.name} --from {missing[0]:%Y-%m-%d-%H:00} "
        f"--to {missing[-1]:%Y-%m-%d-%H:00}), or build it from the hours there are "
        f"(monitoring-pipeline reference --model {model.name} --allow-partial)"
    )


def hour_spans(hours: tuple[datetime, ...]) -> list[str]:
    """Consecutive hours as 'first .. last' spans, e.g. ['2026-11-01 02:00 .. 2026-11-01 05:00']."""
    spans: list[list[datetime]] = []
    for hour in hours:
        if spans and hour - spans[-1][-1] == timedelta(hours=1):
            spans[-1].append(hour)
        else:
            spans.append([hour])
    return [f"{s[0]:%Y-%m-%d %H:00}" + (f" .. {s[-1]:%Y-%m-%d %H:00}" if len(s) > 1 else "") for s in spans]


def build_reference(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> Reference:
    """Merge the window's hourly profiles (trailing: the N hours before `hour`; fixed: the range)."""
    return build_references(model, [hour], warehouse)[0]


def build_references(model: ModelConfig, hours: list[datetime], warehouse: Warehouse) -> list[Reference]:
    """`build_reference` of each hour, reading each profile of their windows once: a run's trailing
    windows overlap (a 24-hour run over 24-hour windows reads 47 profiles, not 576)."""
    windows = [reference_hours(model, hour) for hour in hours]
    needed = sorted({h for window in windows for h in window})
    loaded = load_profiles(warehouse, catalog.feature_profiles, model.name, needed)
    return [_merged(model, window, {h: loaded[h] for h in window if h in loaded}) for window in windows]


def _merged(
    model: ModelConfig, hours: list[datetime], by_hour: dict[datetime, dict[str, Profile]]
) -> Reference:
    merged = {}
    for column in model.monitored_columns:
        merged_profile = merge_profiles(p[column.name] for p in by_hour.values() if column.name in p)
        if merged_profile is not None:
            merged[column.name] = merged_profile
    start, end = hours[0], hours[-1] + timedelta(hours=1)
    kind = f"trailing {model.reference.hours}h" if model.reference.type == "trailing" else "fixed"
    window = f"[{start:%Y-%m-%d %H:00}, {end:%Y-%m-%d %H:00}) UTC"
    description = f"{kind} {window}, {len(by_hour)}/{len(hours)} hours profiled"
    missing = tuple(h for h in hours if h not in by_hour)
    return Reference(description, start, end, len(by_hour), len(hours), merged, missing)


def publish_reference(model: ModelConfig, hour: datetime, reference: Reference, warehouse: Warehouse) -> str:
    table = profiles_to_table(model.name, hour, reference.profiles, roles(model))
    table = table.append_column(
        "reference_window", pa.array([reference.description] * len(table), pa.string())
    )
    return warehouse.put_object(catalog.reference_profiles, model.name, hour, table)


@dataclass(frozen=True)
class HourReference:
    """The reference an hour's drift is judged against: its window and profiles, or None with why not
    (`description`); `built` when this lookup built and published it."""

    description: str
    profiles: dict[str, Profile] | None
    built: Reference | None = None
    reason: str = ""  # why there is none: what is missing and what to run


def load_reference(
    model: ModelConfig, hour: datetime, warehouse: Warehouse
) -> tuple[str, dict[str, Profile]]:
    """The stored reference for `hour`: its own partition (trailing), or the one static reference."""
    stored = STATIC_HOUR if is_static(model) else hour
    paths = warehouse.fetch_hours(catalog.reference_profiles, model.name, [stored])
    if stored not in paths:
        which = "its (static) reference" if is_static(model) else f"{hour:%Y-%m-%d-%H:00}"
        raise MissingInputError(f"{model.name}/reference_profile has not been materialized for {which}")
    table = pq.read_table(paths[stored])
    description = table.column("reference_window")[0].as_py() if len(table) else "empty reference"
    return description, profiles_from_table(table)


def stored_reference(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> HourReference | None:
    stored = STATIC_HOUR if is_static(model) else hour
    if stored not in warehouse.hours_present(catalog.reference_profiles, model.name, [stored]):
        return None
    return HourReference(*load_reference(model, hour, warehouse))


def hour_reference(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> HourReference:
    """The stored reference for `hour`, else built now when it can be: a trailing window from the
    profiles there are (a backfill may schedule this hour's reference in a later run: Dagster orders the
    window's hours, not this hour's), a file from the file, a fixed window once every hour of it is
    profiled. A fixed window still incomplete gives no reference (profiles None), saying why. For a
    static reference every hour gets the same answer: look it up once per run."""
    found = stored_reference(model, hour, warehouse)
    if found is not None:
        return found
    if model.reference.type == "fixed":
        profiled, missing = unprofiled_hours(model, warehouse)
        if missing:  # listing only: nothing is downloaded until the window is complete
            ref = model.reference
            window = f"fixed [{ref.start:%Y-%m-%d %H:00}, {ref.end:%Y-%m-%d %H:00}) UTC"
            description = f"{window}, {profiled}/{profiled + len(missing)} hours profiled: no reference yet"
            return HourReference(description, None, reason=incomplete_message(model, profiled, missing))
    if is_static(model):
        built = build_static_reference(model, warehouse)
        publish_reference(model, STATIC_HOUR, built, warehouse)
    else:
        built = build_reference(model, hour, warehouse)
        publish_reference(model, hour, built, warehouse)
    return HourReference(built.description, built.profiles, built)
