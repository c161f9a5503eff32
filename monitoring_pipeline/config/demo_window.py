"""Where the demo's window is kept: `seed-demo` writes the hours it seeded, and the key layout it wrote
them in, to `data/demo_window.json` beside the monitors file. A model with `partitions_start: demo`
starts its partitions there, so the UI shows the demo's hours and no months of missing partitions
before them; one with `logs_layout: demo` reads its logs in the layout seeded (hive or firehose)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DEMO_WINDOW_FILE = Path("data", "demo_window.json")  # relative to the monitors file's folder
DEMO_HOURS = 96  # what seed-demo writes by default
DEMO = "demo"  # the value of partitions_start and logs_layout that means "as seed-demo recorded it"
DEMO_LAYOUTS = ("hive", "firehose")  # the key layouts seed-demo writes (`--layout`); see demo_sinks
DEMO_LAYOUT_DEFAULT = "hive"  # seed-demo's default, and the layout of a demo seeded before it was recorded


def demo_window_path(base: Path) -> Path:
    return base / DEMO_WINDOW_FILE


def _read(base: Path) -> dict[str, Any] | None:
    """The recorded state, checked; None when seed-demo recorded none."""
    path = demo_window_path(base)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        for k in ("start", "end"):
            body[k] = datetime.fromisoformat(body[k])
        if not isinstance(body.setdefault("layout", DEMO_LAYOUT_DEFAULT), str):
            raise TypeError(f"layout must be a string, not {body['layout']!r}")
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        what = f"{type(exc).__name__}: {exc}"
        raise ValueError(f"{path}: not a demo window written by seed-demo ({what})") from None
    return body


def read_demo_window(base: Path) -> tuple[datetime, datetime] | None:
    """The seeded window, [start, end) in UTC, as seed-demo recorded it; None when it recorded none."""
    body = _read(base)
    if body is None:
        return None
    return tuple(  # type: ignore[return-value]
        t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC) for t in (body["start"], body["end"])
    )


def demo_layout(base: Path) -> str:
    """The key layout seed-demo wrote the logs in (`hive` when it recorded none)."""
    body = _read(base)
    return DEMO_LAYOUT_DEFAULT if body is None else body["layout"]


def demo_start(base: Path, now: datetime | None = None) -> datetime:
    """The first hour seed-demo wrote; before any seeding, the first hour it would write now."""
    window = read_demo_window(base)
    if window is None:
        hour = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return hour - timedelta(hours=DEMO_HOURS)
    return window[0]


def write_demo_window(base: Path, hours: Sequence[datetime], layout: str = DEMO_LAYOUT_DEFAULT) -> Path:
    """Record the seeded hours and their key layout (atomically: a reader never sees half a file)."""
    path = demo_window_path(base)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "start": hours[0].isoformat(),
        "end": (hours[-1] + timedelta(hours=1)).isoformat(),
        "hours": len(hours),
        "layout": layout,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body), encoding="utf-8")
    os.replace(tmp, path)
    return path
