"""Pure layers stay pure: stats/ and quality/ never import Dagster or I/O libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monitoring_pipeline"
FORBIDDEN = {"dagster", "duckdb", "boto3", "botocore", "pyarrow", "requests", "urllib", "socket", "smtplib"}
PURE = ["stats", "quality"]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("folder", PURE)
def test_pure_packages_import_no_io_or_dagster(folder: str) -> None:
    files = list((PACKAGE / folder).rglob("*.py"))
    assert files, f"{folder}/ has no modules"
    for path in files:
        bad = imported_roots(path) & FORBIDDEN
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_work_modules_and_storage_do_not_import_dagster() -> None:
    work = ["ingest.py", "config.py", "hourly.py", "checks.py", "performance.py", "reports.py", "metrics.py"]
    for path in [*(PACKAGE / name for name in work), *(PACKAGE / "storage").rglob("*.py")]:
        assert "dagster" not in imported_roots(path), path


def test_the_checker_sees_imports() -> None:
    """The test above must be able to fail: it finds the imports of a file that has them."""
    assert "dagster" in imported_roots(PACKAGE / "defs" / "assets.py")
    assert "duckdb" in imported_roots(PACKAGE / "ingest.py")
