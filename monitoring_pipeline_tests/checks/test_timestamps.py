"""`timestamps_within_hour` on real hours, with the warehouse on the local store and on S3: rows stamped
days early, hours late, or in year 1 or 9999 used to load with every check passing (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from monitoring_pipeline import checks
from monitoring_pipeline.config import load_config
from monitoring_pipeline.pipeline.ingest import ingest_hour
from monitoring_pipeline.storage.object_store import LocalObjectStore
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS, write_config
from monitoring_pipeline_tests.helpers import copy_hour

FRAUD = "fraud_classifier"
HOUR = HOURS[5]


def _restamp(folder: Path, stamps: dict[int, datetime]) -> int:
    """Give rows (by position, over the hour's objects in name order) new timestamps; the rows' count."""
    offset = 0
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        column = table.column("event_time").to_pylist()
        for i in range(len(column)):
            if offset + i in stamps:
                column[i] = stamps[offset + i]
        index = table.schema.get_field_index("event_time")
        table = table.set_column(index, "event_time", pa.array(column, type=table.schema.field(index).type))
        pq.write_table(table, path)
        offset += table.num_rows
    return offset


def _by_hand(folder: Path, low: datetime, high: datetime) -> tuple[int, int, int]:
    """(before, after, timestamps) counted with pyarrow from the source objects, not by the check."""
    stamps = pa.concat_arrays(
        [pq.read_table(p).column("event_time").combine_chunks() for p in sorted(folder.glob("*.parquet"))]
    )
    stamps = stamps.cast(pa.timestamp("us", tz="UTC"))
    before = pc.sum(pc.less(stamps, pa.scalar(low, pa.timestamp("us", tz="UTC")))).as_py() or 0
    after = pc.sum(pc.greater(stamps, pa.scalar(high, pa.timestamp("us", tz="UTC")))).as_py() or 0
    return before, after, len(stamps) - stamps.null_count


@pytest.fixture
def hour_folder(tmp_path: Path, demo_logs: Path) -> Path:
    return copy_hour(demo_logs, tmp_path / "logs", FRAUD, HOUR)


def _evaluate(tmp_path: Path, root: str) -> checks.CheckOutcome:
    config = load_config(write_config(tmp_path, str(tmp_path / "logs"), data=root, labels=""))
    model = config.model(FRAUD)
    wh = Warehouse.open(config.warehouse)
    ingest_hour(model, HOUR, LocalObjectStore(tmp_path / "logs"), wh)
    return checks.evaluate(model, "timestamps_within_hour", HOUR, wh)


def test_the_demo_hour_passes(tmp_path: Path, warehouse_root: str, hour_folder: Path) -> None:
    low, high = HOUR - timedelta(minutes=15), HOUR + timedelta(minutes=75)
    assert _by_hand(hour_folder, low, high)[:2] == (0, 0)
    ok = _evaluate(tmp_path, warehouse_root)
    assert ok.passed and ok.observed == 0 and ok.threshold == 0.001 and ok.severity == "ERROR"
    assert HOUR <= datetime.fromisoformat(ok.details["earliest"]) < HOUR + timedelta(hours=1)


def test_shifted_and_absurd_timestamps_fail_with_counts_and_extremes(
    tmp_path: Path, warehouse_root: str, hour_folder: Path
) -> None:
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in hour_folder.glob("*.parquet"))
    rng = np.random.default_rng(3)
    picked = rng.choice(rows, size=12, replace=False).tolist()
    stamps = {
        # inside by the tolerance: 14 minutes early and 14 minutes after the hour's end
        picked[0]: HOUR - timedelta(minutes=14),
        picked[1]: HOUR + timedelta(minutes=74),
        # outside: 3 days early, 9 hours late, 16 minutes early, year 1, year 9999
        **{i: HOUR - timedelta(days=3) for i in picked[2:6]},
        **{i: HOUR + timedelta(hours=9) for i in picked[6:9]},
        picked[9]: HOUR - timedelta(minutes=16),
        picked[10]: datetime(1, 1, 1, tzinfo=UTC),
        picked[11]: datetime(9999, 12, 31, 23, tzinfo=UTC),
    }
    _restamp(hour_folder, stamps)
    before, after, stamped = _by_hand(hour_folder, HOUR - timedelta(minutes=15), HOUR + timedelta(minutes=75))
    assert (before, after) == (6, 4)  # the fixture is what it says
    bad = _evaluate(tmp_path, warehouse_root)
    assert not bad.passed and bad.severity == "ERROR"
    assert bad.observed == pytest.approx(10 / stamped, rel=1e-12)
    assert (bad.details["before"], bad.details["after"], bad.details["timestamps"]) == (6, 4, stamped)
    assert bad.details["earliest"].startswith("0001-01-01") and bad.details["latest"].startswith("9999-12-31")
    assert "10 of" in bad.description and "6 before, 4 after" in bad.description


def test_a_share_under_the_allowed_one_passes(tmp_path: Path, warehouse_root: str, hour_folder: Path) -> None:
    """One stray row in a hour of thousands is under 0.1 %: clocks drift, a single row is not an incident."""
    _restamp(hour_folder, {0: HOUR - timedelta(days=3)})
    ok = _evaluate(tmp_path, warehouse_root)
    assert ok.passed and 0 < ok.observed <= 0.001 and ok.details["before"] == 1
