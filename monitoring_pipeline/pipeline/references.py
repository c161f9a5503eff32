"""What drift is measured against, per model (no Dagster): the merge of hourly profiles over a window
(trailing: the N hours before each hour; fixed: one window), or the profile of a training file.

A fixed window's reference is built once all its hours are profiled, by whichever step first finds
them so (the drift of the run that profiled the last one, the `reference_profile` asset, or
`monitoring-pipeline reference`); until then the hours' drift has no reference (`no_reference`). A
partial window is refused unless asked for (`allow_partial`), naming the hours still missing."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_pipeline.config import ModelConfig, parse_hour
from monitoring_pipeline.pipeline.profiling import profile_parquet, profiles_from_table, profiles_to_table
from monitoring_pipeline.stats.profiles import Profile, merge_profiles
from monitoring_pipeline.storage import catalog, duck
from monitoring_pipeline.storage.catalog import STATIC_HOUR, ObjectTable
from monitoring_pipeline.storage.object_store import fetch_file, file_version
from monitoring_pipeline.storage.warehouse import Warehouse

BUILT_FOR = b"monitoring_pipeline.reference"  # the object's Parquet metadata key: what it was built for


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
    spec: str = ""  # a static reference: reference_spec(model), read before its inputs


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
    model: ModelConfig,
    warehouse: Warehouse,
    allow_partial: bool = False,
    state: WindowState | None = None,
    spec: str | None = None,
) -> Reference:
    """The one reference of a fixed window or a file. A fixed window with hours still unprofiled raises
    IncompleteReferenceError, unless `allow_partial` (and at least one hour is profiled). `state` and
    `spec`: the window's and the spec's, when the caller has just read them."""
    if spec is None:  # before reading: a file replaced meanwhile is seen as changed next time
        spec = reference_spec(model)
    if model.reference.type == "fixed":
        state = state or window_state(model, warehouse)
        if (state.missing and not allow_partial) or not state.profiled:
            raise IncompleteReferenceError(incomplete_message(model, state))
        return replace(build_reference(model, STATIC_HOUR, warehouse), spec=spec)
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
    return Reference(f"file {path} ({rows} rows)", None, None, 0, 0, profiles, spec=spec)


@dataclass(frozen=True)
class WindowState:
    """A fixed window's hours: profiled, loaded empty (an empty or missing hour: never profiled, it adds
    nothing to the merge) and missing (not loaded yet, or failed to load)."""

    profiled: int
    empty: tuple[datetime, ...]
    missing: tuple[datetime, ...]


def window_state(model: ModelConfig, warehouse: Warehouse) -> WindowState:
    """Listing the window's profiles and reading its unprofiled hours' facts by index: nothing downloaded."""
    window = reference_hours(model, STATIC_HOUR)
    present = warehouse.hours_present(catalog.feature_profiles, model.name, window)
    unprofiled = [h for h in window if h not in present]
    facts = warehouse.results.hour_rows(catalog.hour_facts, model.name, unprofiled) if unprofiled else []
    empty = {parse_hour(f["partition_hour"]) for f in facts if f["rows"] == 0}
    return WindowState(
        len(present),
        tuple(h for h in unprofiled if h in empty),
        tuple(h for h in unprofiled if h not in empty),
    )


def incomplete_message(model: ModelConfig, state: WindowState) -> str:
    """Why a fixed window's reference was not built, and what to run about it."""
    ref = model.reference
    spans = hour_spans(state.missing)
    shown = ", ".join(spans[:3]) + (f" and {len(spans) - 3} more span(s)" if len(spans) > 3 else "")
    total = state.profiled + len(state.empty) + len(state.missing)
    empty = f" ({len(state.empty)} loaded empty)" if state.empty else ""
    what = (
        f"missing {len(state.missing)}: {shown}. Backfill them (monitoring-pipeline backfill --model "
        f"{model.name} --from {state.missing[0]:%Y-%m-%d-%H:00} --to {state.missing[-1]:%Y-%m-%d-%H:00}), "
        f"or build it from the hours there are (monitoring-pipeline reference --model {model.name} "
        "--allow-partial)"
        if state.missing
        else "no hour has rows: there is nothing to build a reference from"
    )
    early = [h for h in state.missing if h < model.partitions_start]
    if early:  # Dagster has no partition for them: no backfill loads them
        what += (
            f"; {len(early)} of them fall before partitions_start ({model.partitions_start:%Y-%m-%d-%H:00}) "
            "and can never be loaded: move the window, or build it from the hours there are"
        )
    return (
        f"{model.name}: the fixed reference window [{ref.start:%Y-%m-%d %H:00}, {ref.end:%Y-%m-%d %H:00}) "
        f"has {state.profiled}/{total} hours profiled{empty}; {what}"
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
    return Reference(description, start, end, len(by_hour), len(hours), merged)


def reference_spec(model: ModelConfig) -> str:
    """What the reference is: the config's window or file, and the file's version (a static reference is
    rebuilt when this changes: a new window, another file, the same file replaced by a retrained one)."""
    ref = model.reference
    spec = {"type": ref.type, "start": ref.start, "end": ref.end, "path": ref.path}
    if ref.type == "file" and ref.path:
        spec["version"] = file_version(ref.path)
    return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in spec.items()})


def publish_reference(model: ModelConfig, hour: datetime, reference: Reference, warehouse: Warehouse) -> str:
    """The reference object: profiles and the window in words; a static one also keeps, in its Parquet
    metadata (not a column: every object of the table keeps one schema), the spec it was built for and
    how many hours it merged."""
    table = profiles_to_table(model.name, hour, reference.profiles, roles(model))
    table = table.append_column(
        "reference_window", pa.array([reference.description] * len(table), pa.string())
    )
    if is_static(model):
        built = json.dumps({"spec": reference.spec, "profiled": reference.hours_found})
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), BUILT_FOR: built.encode()})
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
    found = _load(model, hour, warehouse)
    if found is None:
        which = "its (static) reference" if is_static(model) else f"{hour:%Y-%m-%d-%H:00}"
        raise MissingInputError(f"{model.name}/reference_profile has not been materialized for {which}")
    description, profiles, _ = found
    return description, profiles


def _load(
    model: ModelConfig, hour: datetime, warehouse: Warehouse
) -> tuple[str, dict[str, Profile], dict] | None:
    """The stored reference's window in words, profiles and what it was built for; None if none is."""
    stored = STATIC_HOUR if is_static(model) else hour
    paths = warehouse.fetch_hours(catalog.reference_profiles, model.name, [stored])
    if stored not in paths:
        return None
    table = pq.read_table(paths[stored])
    description = table.column("reference_window")[0].as_py() if len(table) else "empty reference"
    kept = (table.schema.metadata or {}).get(BUILT_FOR)
    return description, profiles_from_table(table), json.loads(kept) if kept else {}


def stored_reference(
    model: ModelConfig,
    hour: datetime,
    warehouse: Warehouse,
    state: WindowState | None = None,
    spec: str | None = None,
) -> HourReference | None:
    """The stored reference, if it is still what the config asks for (`spec`, and for a fixed window its
    `state`: both read here when not given). A static one is not when it was built for another window or
    file (or the file was replaced), when its window is complete now with more hours profiled than it
    merged (a partial one completed, an hour loaded late), or when it predates these records and can be
    rebuilt."""
    found = _load(model, hour, warehouse)
    if found is None:
        return None
    description, profiles, built = found
    if is_static(model):
        spec = reference_spec(model) if spec is None else spec
        if built and built["spec"] != spec:
            return None
        if model.reference.type != "fixed":
            return None if not built else HourReference(description, profiles)  # from before: rebuilt once
        state = state or window_state(model, warehouse)  # listing only
        # complete now, with more hours than it merged (or merged before it was recorded): rebuild; a
        # partial one (--allow-partial) stays until its window completes
        if not state.missing and (not built or state.profiled > built["profiled"]):
            return None
    return HourReference(description, profiles)


def hour_reference(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> HourReference:
    """The stored reference for `hour` (stored_reference), else built now when it can be: a trailing
    window from the profiles there are (a backfill may schedule this hour's reference in a later run:
    Dagster orders the window's hours, not this hour's), a file from the file, a fixed window once every
    hour of it is loaded (profiled, or empty). A fixed window still incomplete gives no reference
    (profiles None), saying why. A static reference is the same for every hour: look it up once a run;
    its spec and window are read once for the lookup and the build."""
    if not is_static(model):
        found = stored_reference(model, hour, warehouse)
        if found is not None:
            return found
        built = build_reference(model, hour, warehouse)
        publish_reference(model, hour, built, warehouse)
        return HourReference(built.description, built.profiles, built)
    spec = reference_spec(model)
    state = window_state(model, warehouse) if model.reference.type == "fixed" else None
    found = stored_reference(model, hour, warehouse, state, spec)
    if found is not None:
        return found
    if state is not None and (state.missing or not state.profiled):
        ref = model.reference
        window = f"fixed [{ref.start:%Y-%m-%d %H:00}, {ref.end:%Y-%m-%d %H:00}) UTC"
        total = state.profiled + len(state.empty) + len(state.missing)
        description = f"{window}, {state.profiled}/{total} hours profiled: no reference yet"
        return HourReference(description, None, reason=incomplete_message(model, state))
    built = build_static_reference(model, warehouse, state=state, spec=spec)
    publish_reference(model, STATIC_HOUR, built, warehouse)
    return HourReference(built.description, built.profiles, built)
