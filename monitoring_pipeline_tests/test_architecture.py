"""The package reads as the data flow, and the tests keep it so, by folder (found by walking the
package, never listed by hand): imports only go down the layers, the pure layers import no I/O or
Dagster, and Dagster is imported by the glue alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monitoring_pipeline"
TESTS = Path(__file__).resolve().parent
FORBIDDEN = {"dagster", "duckdb", "boto3", "botocore", "pyarrow", "requests", "urllib", "socket", "smtplib"}
PURE = ["stats", "quality"]
# Bottom to top: a unit may import its own layer and those below it, never one above.
LAYERS = [
    {"stats"},  # pure statistics
    {"config"},  # the monitors file (drift test names are checked against stats)
    {"quality"},  # expectation suites (pure)
    {"storage"},  # object stores, warehouse, results store, migrations, DuckDB setup
    {"pipeline"},  # the work of an hour: ingest, profiles, references, drift, performance, retention
    {"checks"},  # every check declared once, evaluated per hour
    {"alerts", "publish"},  # alert state machine and sinks; reports and Prometheus figures
    {"demo", "demo_sinks"},  # demo logs with known incidents; how a streaming sink (Firehose) lands them
    {"defs"},  # all the Dagster glue
    # entry points: Dagster's code location, the console script (its backfill output, its `serve`)
    {"definitions", "cli", "console", "serve"},
]
GLUE = {"defs", "definitions"}


def unit(path: Path) -> str:
    """The folder under the package a module belongs to (or the module's name at the root)."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def imported_units(path: Path) -> set[str]:
    """The package's units a module imports (`from monitoring_pipeline import x` names unit x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if "." in node.module else [f"{node.module}.{a.name}" for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("monitoring_pipeline.")}
    return found


def layer(name: str) -> int:
    return next(i for i, units in enumerate(LAYERS) if name in units)


def test_every_unit_has_a_layer() -> None:
    units = {unit(p) for p in modules()} - {"__init__"}
    assert units == set().union(*LAYERS), "a folder was added or removed: place it in LAYERS"


def test_imports_only_go_down() -> None:
    for path in modules():
        here = unit(path)
        if here == "__init__":
            continue
        above = {u for u in imported_units(path) if layer(u) > layer(here)}
        assert not above, f"{path.relative_to(PACKAGE)} ({here}) imports {sorted(above)} from above it"


@pytest.mark.parametrize("folder", PURE)
def test_pure_packages_import_no_io_or_dagster(folder: str) -> None:
    files = list((PACKAGE / folder).rglob("*.py"))
    assert files, f"{folder}/ has no modules"
    for path in files:
        bad = imported_roots(path) & FORBIDDEN
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_only_the_glue_imports_dagster() -> None:
    checked = [p for p in modules() if unit(p) not in GLUE]
    assert {"pipeline", "storage", "checks", "publish", "alerts"} <= {unit(p) for p in checked}
    for path in checked:
        assert "dagster" not in imported_roots(path), path.relative_to(PACKAGE)


def test_the_checkers_see_imports() -> None:
    """The tests above must be able to fail: they find the imports of files that have them."""
    assert "dagster" in imported_roots(PACKAGE / "defs" / "assets.py")
    assert "duckdb" in imported_roots(PACKAGE / "pipeline" / "ingest.py")
    assert {"config", "pipeline", "storage"} <= imported_units(PACKAGE / "defs" / "assets.py")
    assert "checks" in imported_units(
        PACKAGE / "defs" / "asset_checks.py"
    )  # `from monitoring_pipeline import`


def test_tests_mirror_the_package() -> None:
    """Each test folder is named for a unit of the package (integration/ runs real servers across them)."""
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    units = {unit(p) for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders - {"integration"} <= units, sorted(folders - units - {"integration"})
    for folder in units:
        assert (TESTS / folder).is_dir(), f"no tests/{folder}/"


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
