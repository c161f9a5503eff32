"""Where the demo's window is kept: `seed-demo` writes the hours it seeded to `data/demo_window.json`
beside the monitors file, and a model with `partitions_start: demo` starts its partitions there, so
the UI shows the demo's hours and no months of missing partitions before them."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEMO_WINDOW_FILE = Path("data", "demo_window.json")  # relative to the monitors file's folder
DEMO_HOURS = 96  # what seed-demo writes by default
DEMO_START = "demo"  # the partitions_start value that means "where the seeded demo starts"


def demo_window_path(base: Path) -> Path:
    return base / DEMO_WINDOW_FILE


def read_demo_window(base: Path) -> tuple[datetime, datetime] | None:
    """The seeded window, [start, end) in UTC, as seed-demo recorded it; None when it recorded none."""
    path = demo_window_path(base)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        start, end = (datetime.fromisoformat(body[k]) for k in ("start", "end"))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        what = f"{type(exc).__name__}: {exc}"
        raise ValueError(f"{path}: not a demo window written by seed-demo ({what})") from None
    return tuple(t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))  # type: ignore[return-value]


def demo_start(base: Path, now: datetime | None = None) -> datetime:
    """The first hour seed-demo wrote; before any seeding, the first hour it would write now."""
    window = read_demo_window(base)
    if window is None:
        hour = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return hour - timedelta(hours=DEMO_HOURS)
    return window[0]


def write_demo_window(base: Path, hours: Sequence[datetime]) -> Path:
    """Record the seeded hours (atomically: a reader never sees half a file)."""
    path = demo_window_path(base)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "start": hours[0].isoformat(),
        "end": (hours[-1] + timedelta(hours=1)).isoformat(),
        "hours": len(hours),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body), encoding="utf-8")
    os.replace(tmp, path)
    return path
