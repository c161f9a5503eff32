"""The object-store key scheme, shared by the local folder and S3: `<model>/dt=YYYY-MM-DD/hour=HH/`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# a folder `.../dt=YYYY-MM-DD/hour=HH/` (source logs) or a file `.../hour=HH.parquet` (warehouse)
HOUR_KEY = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})(?:/|\.parquet$|$)")


def hour_prefix(model: str, hour: datetime) -> str:
    """Key prefix (relative to a location) holding one model's objects for one UTC hour."""
    hour = hour.astimezone(UTC)
    return f"{model}/dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def hour_from_key(key: str) -> datetime | None:
    """The UTC hour a key belongs to, or None when the key is outside the scheme."""
    match = HOUR_KEY.search(key)
    if match is None:
        return None
    return datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}:00:00+00:00")


def is_data_object(key: str) -> bool:
    """Parquet objects only: markers (_SUCCESS), hidden and in-flight temporary files are ignored."""
    name = key.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith((".", "_"))
