"""The hive key scheme `<model>/dt=YYYY-MM-DD/hour=HH/` of labels and the warehouse. Prediction logs
are found through each model's `logs_layout` (`config.key_layout`); this is its `hive` preset."""

from __future__ import annotations

import re
from datetime import datetime

from monitoring_pipeline.config.key_layout import key_layout

# a folder `.../dt=YYYY-MM-DD/hour=HH/` (source logs) or a file `.../hour=HH.parquet` (warehouse)
HOUR_KEY = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})(?:/|\.parquet$|$)")


def hour_prefix(model: str, hour: datetime) -> str:
    """Key prefix (relative to a location) holding one model's hive objects for one UTC hour (labels)."""
    return key_layout("hive", model, {}).folder(hour)


def hour_from_key(key: str) -> datetime | None:
    """The UTC hour a hive key belongs to, or None when the key is outside the scheme."""
    match = HOUR_KEY.search(key)
    if match is None:
        return None
    return datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}:00:00+00:00")


def is_data_object(key: str) -> bool:
    """Parquet objects only: markers (_SUCCESS), hidden and in-flight temporary files are ignored."""
    name = key.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith((".", "_"))
