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


# Dagster glue lives here and only here (backfill.py launches runs on the instance for the CLI)
GLUE = {"defs", "resources", "definitions.py", "backfill.py"}


def test_only_the_glue_imports_dagster() -> None:
    """Every other module, found by walking the package (not listed by hand), is free of Dagster."""
    checked = [
        path
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in GLUE and "migrations" not in path.parts
    ]
    assert {"ingest.py", "retention.py", "migrate.py", "results.py"} <= {p.name for p in checked}
    for path in checked:
        assert "dagster" not in imported_roots(path), path.relative_to(PACKAGE)


def test_the_checker_sees_imports() -> None:
    """The test above must be able to fail: it finds the imports of a file that has them."""
    assert "dagster" in imported_roots(PACKAGE / "defs" / "assets.py")
    assert "duckdb" in imported_roots(PACKAGE / "ingest.py")


def private_dagster_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {n for n in names if n.startswith("dagster._")}
    return found


def test_private_dagster_api_only_through_its_one_wrapper() -> None:
    users = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if private_dagster_imports(path)
    }
    assert users == {"defs/dagster_api.py"}
    for path in PACKAGE.rglob("*.py"):  # nor reached through an attribute chain
        assert "._core." not in path.read_text() or path.name == "dagster_api.py", path
