"""`monitoring-pipeline`: seed the demo, validate the config, query the warehouse."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitoring_pipeline.config import ConfigError, MonitorsConfig, load_config, parse_hour
from monitoring_pipeline.config.demo_window import DEMO_HOURS, DEMO_LAYOUT_DEFAULT, DEMO_LAYOUTS


def _seed_demo(config: MonitorsConfig, args: argparse.Namespace) -> int:
    from monitoring_pipeline.config.demo_window import write_demo_window
    from monitoring_pipeline.demo import (
        DEMO_MODELS,
        demo_hours,
        seed_demo,
        training_frame,
        write_training_file,
    )
    from monitoring_pipeline.storage.object_store import open_store

    models = [m for m in config.models if m.name in DEMO_MODELS]
    if not models:
        print(f"{config.path}: declares none of the demo models {DEMO_MODELS}", file=sys.stderr)
        return 2
    stores = {m.name: open_store(m.logs) for m in models}
    if args.if_empty and any(s.list(root) for name, s in stores.items() for root in _demo_roots(name)):
        _demo_window(config)  # recorded, if an earlier release seeded them
        print("demo logs already present; not seeding (drop --if-empty to rewrite them)")
        return 0
    end = parse_hour(args.end) if args.end else None
    labels = {m.name: open_store(m.labels.location) for m in models if m.labels}
    rows = seed_demo(stores, end=end, hours=args.hours, seed=args.seed, labels=labels, layout=args.layout)
    base = Path(config.path).resolve().parent
    window = write_demo_window(base, demo_hours(end, args.hours), args.layout)
    for name, count in rows.items():
        where = f"{config.model(name).logs}/{name}/"
        print(f"{name}: {count} rows over {args.hours} hours, {args.layout} layout -> {where}")
        if name in labels:
            print(f"{name}: labels, by arrival hour -> {config.model(name).labels.location}/{name}/")
    for model in models:
        if model.reference.type == "file" and model.reference.path:
            frame = training_frame(model.name, end=end, seed=args.seed)
            write_training_file(model.reference.path, frame)
            print(f"{model.name}: reference (training) data, {len(frame)} rows -> {model.reference.path}")
    print(
        f"demo window and layout recorded in {window} (models with `partitions_start: demo` start there, "
        "`logs_layout: demo` reads that layout)"
    )
    return 0


def _demo_roots(model: str) -> set[str]:
    """The key prefixes under which seed-demo writes a model's logs, in any of its layouts."""
    from monitoring_pipeline.config.key_layout import key_layout

    return {key_layout(layout, model, {}).root() for layout in DEMO_LAYOUTS}


def _backfill(config: MonitorsConfig, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from monitoring_pipeline.console import BackfillConsole, file_logger
    from monitoring_pipeline.defs.backfill import backfill
    from monitoring_pipeline.demo import DEMO_MODELS

    if args.demo:
        marker = Path(os.environ.get("DAGSTER_HOME", ".")) / ".demo_backfilled"
        if marker.exists():
            print(f"demo window already backfilled ({marker}); skipping")
            return 0
        hours = _demo_window(config)
        if not hours:
            print("error: no demo logs to backfill (run seed-demo first)", file=sys.stderr)
            return 2
        models, first, last = [m for m in config.models if m.name in DEMO_MODELS], hours[0], hours[-1]
    else:
        if not (args.start and args.end):
            print("error: give --from and --to (or --demo)", file=sys.stderr)
            return 2
        models = [config.model(args.model)] if args.model else list(config.models)
        first, last = parse_hour(args.start), parse_hour(args.end)
        if last < first:
            print("error: --to is before --from", file=sys.stderr)
            return 2
    home = Path(os.environ.get("DAGSTER_HOME", "."))
    log_path = home / "logs" / f"backfill-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
    logger = file_logger(log_path)
    print(f"Dagster's event log of this backfill: {log_path}", flush=True)
    total = (last - first) // timedelta(hours=1) + 1
    interrupted = False
    with BackfillConsole({m.name: total for m in models}) as shown:
        try:
            for m in models:
                runs = backfill(config, m, first, last, args.hours_per_run, logger=logger, listener=shown)
                if interrupted := any(o.interrupted for o in runs):
                    break
        except KeyboardInterrupt:  # outside a run's steps (Dagster turns those into a failed run)
            interrupted = True
    shown.summary(interrupted)
    if interrupted:
        return 130
    if args.demo:
        marker.write_text(datetime.now(UTC).isoformat())
    return 0 if all(o.success for o in shown.outcomes) else 1


def _serve(config: MonitorsConfig, args: argparse.Namespace) -> int:
    from monitoring_pipeline.serve import dagster_dev, serve

    return serve(dagster_dev(args.host, args.port, args.workspace), grace=args.grace)


def _reference(config: MonitorsConfig, args: argparse.Namespace) -> int:
    from monitoring_pipeline.defs.references import materialize_reference

    try:
        run = materialize_reference(config, config.model(args.model), allow_partial=args.allow_partial)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    print(f"{args.model}: {run.message} (run {run.run_id})", file=sys.stdout if run.success else sys.stderr)
    return 0 if run.success else 1


def _demo_window(config: MonitorsConfig) -> list[datetime]:
    """The demo's hours, as seed-demo recorded them (data/demo_window.json, which `partitions_start: demo`
    reads too); for logs seeded before it was recorded, from the hours in the store, recorded now."""
    from datetime import timedelta

    from monitoring_pipeline.config.demo_window import demo_window_path, read_demo_window, write_demo_window
    from monitoring_pipeline.demo import DEMO_MODELS
    from monitoring_pipeline.storage.object_store import open_store

    base = Path(config.path).resolve().parent
    window = read_demo_window(base)
    layouts = []
    if window is None:
        first, ends = [], []
        for model in config.models:
            if model.name not in DEMO_MODELS:
                continue
            found = open_store(model.logs).list(model.key_layout.root())
            folders = {h for o in found if (h := model.key_layout.hour_of(o.key)) is not None}
            if folders:  # event time: the last arrival folders hold only the last hour's spill-over
                first.append(min(folders))
                ends.append(max(folders) + timedelta(hours=1 - model.arrival_folders))
                layouts.append(model.logs_layout)
        if not first:
            return []
        window = (min(first), max(ends))
    first, end = window
    hours = [first + timedelta(hours=i) for i in range((end - first) // timedelta(hours=1))]
    if not demo_window_path(base).exists():
        layout = next((name for name in layouts if name in DEMO_LAYOUTS), DEMO_LAYOUT_DEFAULT)
        write_demo_window(base, hours, layout)
    return hours


def _validate(config: MonitorsConfig, args: argparse.Namespace) -> int:
    for model in config.models:
        columns = len(model.monitored_columns)
        by = "event time" if model.event_time else "arrival"
        first = model.key_layout.folder(model.partitions_start)
        print(
            f"{model.name}: {model.task}, {columns} monitored columns, logs at {model.logs} "
            f"({model.logs_layout} layout, e.g. {first}; hours by {by})"
        )
    print(f"{config.path}: OK")
    return 0


def _sql(config: MonitorsConfig, args: argparse.Namespace) -> int:
    import duckdb

    from monitoring_pipeline.storage.sql_session import ReadOnlyQueryError, query
    from monitoring_pipeline.storage.warehouse import Warehouse

    with Warehouse.open(config.warehouse).connect([m.name for m in config.models], args.query) as conn:
        try:
            print(query(conn, args.query))
        except ReadOnlyQueryError as exc:
            print(f"error: refused: {exc}", file=sys.stderr)
            return 2
        except duckdb.Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


def _metrics(config: MonitorsConfig, args: argparse.Namespace) -> int:
    from monitoring_pipeline.publish.prometheus import collect, render, write_textfile
    from monitoring_pipeline.storage.warehouse import Warehouse

    text = render(collect(config, Warehouse.open(config.warehouse)))
    if args.out:
        write_textfile(args.out, text)
        print(f"written to {args.out}")
    else:
        print(text, end="")
    return 0


def _report(config: MonitorsConfig, args: argparse.Namespace) -> int:
    from monitoring_pipeline.publish.reports import (
        hour_report,
        publish,
        report_key,
        window_key,
        window_report,
    )
    from monitoring_pipeline.storage.warehouse import Warehouse

    wh = Warehouse.open(config.warehouse)
    try:
        model = config.model(args.model)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    first = parse_hour(args.start)
    last = parse_hour(args.end) if args.end else first
    if last < first:
        print("error: --to is before --from", file=sys.stderr)
        return 2
    try:
        if last == first:
            uri = publish(wh, report_key(model.name, first), hour_report(model, first, wh))
        else:
            uri = publish(wh, window_key(model.name, first, last), window_report(model, first, last, wh))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(uri)
    return 0


def _migrate(config: MonitorsConfig, args: argparse.Namespace) -> int:
    from monitoring_pipeline.storage.migrate import migrate
    from monitoring_pipeline.storage.warehouse import Warehouse

    wh = Warehouse.open(config.warehouse)
    counts = migrate(config, wh)
    for table, rows in counts.items():
        print(f"{table}: {rows} row(s) upserted")
    print(f"results store: {wh.results!r}; legacy Parquet results under {wh.tables_root} are no longer read")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitoring-pipeline", description=__doc__)
    parser.add_argument("--config", help="monitors file (default: $MONITORING_CONFIG or ./monitors.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    seed = sub.add_parser("seed-demo", help="write the demo prediction logs into the configured store")
    seed.add_argument("--end", help="first hour NOT written, e.g. 2026-11-24-12:00 (default: this hour)")
    seed.add_argument("--hours", type=int, default=DEMO_HOURS, help=f"hours of logs (default {DEMO_HOURS})")
    seed.add_argument("--seed", type=int, default=7)
    seed.add_argument("--if-empty", action="store_true", help="do nothing when demo logs already exist")
    seed.add_argument(
        "--layout",
        choices=DEMO_LAYOUTS,
        default=DEMO_LAYOUT_DEFAULT,
        help="hive: Parquet by hour (default); firehose: gzip JSON lines, as Kinesis Data Firehose "
        "delivers them",
    )
    seed.set_defaults(func=_seed_demo)
    sub.add_parser("validate-config", help="parse and validate the monitors file").set_defaults(
        func=_validate
    )
    back = sub.add_parser(
        "backfill", help="materialize every asset and check of a window, in runs of N hours"
    )
    back.add_argument("--model", help="one model (default: all)")
    back.add_argument("--from", dest="start", help="first hour, e.g. 2026-11-20-00:00")
    back.add_argument("--to", dest="end", help="last hour (inclusive)")
    back.add_argument(
        "--hours-per-run", type=_positive, help="hours per run (default: each model's max_hours_per_run)"
    )
    back.add_argument("--demo", action="store_true", help="the demo window, once (what `make run` does)")
    back.set_defaults(func=_backfill)
    ref = sub.add_parser(
        "reference",
        help="build a model's fixed-window or file reference (a fixed window only once all its hours are "
        "profiled, unless --allow-partial)",
    )
    ref.add_argument("--model", required=True)
    ref.add_argument(
        "--allow-partial", action="store_true", help="build a fixed window from the hours profiled so far"
    )
    ref.set_defaults(func=_reference)
    srv = sub.add_parser("serve", help="start the Dagster UI and daemon (dagster dev); Ctrl-C stops it all")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=3000)
    srv.add_argument("--workspace", default="workspace.yaml")
    srv.add_argument("--grace", type=float, help="seconds to shut down before the rest is killed (6)")
    srv.set_defaults(func=_serve)
    metrics = sub.add_parser("metrics", help="print the Prometheus text-format figures (or write --out)")
    metrics.add_argument("--out", help="write the file atomically instead (node_exporter textfile collector)")
    metrics.set_defaults(func=_metrics)
    report = sub.add_parser(
        "report", help="write the HTML drift report of an hour, or the heat map of a window"
    )
    report.add_argument("--model", required=True)
    report.add_argument("--from", dest="start", required=True, help="the hour, or the window's first hour")
    report.add_argument("--to", dest="end", help="the window's last hour (inclusive): a heat map")
    report.set_defaults(func=_report)
    sub.add_parser(
        "migrate",
        help="move the results of a warehouse written by the previous release into the results store",
    ).set_defaults(func=_migrate)
    sql = sub.add_parser("sql", help="run one read-only SELECT over the warehouse")
    sql.add_argument("query")
    sql.set_defaults(func=_sql)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return args.func(config, args)


if __name__ == "__main__":
    sys.exit(main())
