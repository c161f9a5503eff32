"""What `monitoring-pipeline backfill` shows: a progress bar per model (hours done, rows per second,
time left) on a terminal, one plain line per run everywhere (a log, a pipe or CI gets no control
codes), and a summary table at the end with each failed hour's reason."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from monitoring_pipeline.defs.backfill import RunOutcome


def _hour(h: datetime) -> str:
    return f"{h:%Y-%m-%d %H}:00"


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class BackfillConsole:
    """A backfill's listener (defs/backfill.py): follows each model's hours as its runs' steps end."""

    def __init__(self, totals: Mapping[str, int], out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.totals = dict(totals)  # model -> hours to backfill
        self.hours = dict.fromkeys(totals, 0)  # hours of finished runs
        self.rows = dict.fromkeys(totals, 0)
        self.started: dict[str, float] = {}
        # a log or a pipe gets no control codes, and lines as wide as a terminal's (not rich's 80)
        self.console = Console(file=self.out, highlight=False, width=None if self.out.isatty() else 120)
        self.progress: Progress | None = None
        self.tasks: dict[str, int] = {}
        self.outcomes: list[RunOutcome] = []

    def __enter__(self) -> BackfillConsole:
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:.1f}/{task.total:.0f} h"),
                TextColumn("{task.fields[rate]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.tasks = {m: self.progress.add_task(m, total=n, rate="") for m, n in self.totals.items()}
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()

    def step_done(self, model: str, hours: float) -> None:
        self.started.setdefault(model, time.monotonic())
        if self.progress:
            self.progress.update(self.tasks[model], completed=self.hours[model] + hours)

    def run_done(self, outcome: RunOutcome) -> None:
        self.outcomes.append(outcome)
        model = outcome.model
        start = self.started.setdefault(model, time.monotonic() - outcome.seconds)
        self.hours[model] += len(outcome.hours)
        self.rows[model] += outcome.rows
        elapsed = max(time.monotonic() - start, 1e-9)
        done, total = self.hours[model], self.totals[model]
        rate = f"{self.rows[model] / elapsed:,.0f} rows/s"
        eta = _duration(elapsed / done * (total - done)) if done else "?"
        state = "interrupted" if outcome.interrupted else "ok" if outcome.success else "FAILED"
        if outcome.failed:
            state += f", {len(outcome.failed)} failed hour(s)"
        line = (
            f"{model}: {done}/{total} h ({done / total:.0%}), {self.rows[model]:,} rows, {rate}, ETA {eta}"
            f" | run {outcome.run_id[:8]} {_hour(outcome.hours[0])}..{_hour(outcome.hours[-1])}:"
            f" {state} in {outcome.seconds:.1f} s"
        )
        if self.progress:
            self.progress.update(self.tasks[model], completed=done, rate=rate)
            self.progress.console.print(line, markup=False)
        else:
            print(line, file=self.out, flush=True)

    def summary(self, interrupted: bool) -> None:
        """The table of runs, hours, rows and failed hours per model, then the failed hours by reason."""
        outcomes = self.outcomes
        table = Table(title="backfill summary" + (" (interrupted)" if interrupted else ""))
        for name in ("model", "runs", "failed runs", "hours", "failed hours", "rows", "time"):
            table.add_column(name, justify="left" if name == "model" else "right")
        for model, total in self.totals.items():
            mine = [o for o in outcomes if o.model == model]
            table.add_row(
                model,
                str(len(mine)),
                str(sum(not o.success for o in mine)),
                f"{sum(len(o.hours) for o in mine)}/{total}",
                str(sum(len(o.failed) for o in mine)),
                f"{sum(o.rows for o in mine):,}",
                _duration(sum(o.seconds for o in mine)),
            )
        self.console.print(table)
        lines = [f"  {model} {span}: {reason}" for model, span, reason in failed_spans(outcomes)]
        if lines:
            print("failed hours:", *lines, sep="\n", file=self.out, flush=True)


def failed_spans(outcomes: Sequence[RunOutcome]) -> list[tuple[str, str, str]]:
    """Failed hours as (model, span, reason), consecutive hours with the same reason in one span."""
    spans: list[list] = []  # [model, first, last, reason]
    for o in outcomes:
        for hour, reason in sorted(o.failed.items()):
            last = spans[-1] if spans else None
            if last and last[0] == o.model and last[3] == reason and hour - last[2] == timedelta(hours=1):
                last[2] = hour
            else:
                spans.append([o.model, hour, hour, reason])
    return [
        (m, _hour(a) if a == b else f"{_hour(a)}..{_hour(b)} ({(b - a) // timedelta(hours=1) + 1} h)", r)
        for m, a, b, r in spans
    ]


def file_logger(path: Path) -> logging.Logger:
    """A logger writing every record, DEBUG up, to `path` (created), and nowhere else: it hangs in no
    logging hierarchy, so nothing propagates to the root logger or the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    logger = logging.Logger("dagster", logging.DEBUG)
    logger.addHandler(handler)
    return logger
