"""The package keeps its shape: floors that import only downward, small modules, entry points on top."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "dbprobe"
ENTRY_POINTS = {
    "__init__.py",
    "__main__.py",
    "errors.py",
    "assertions.py",
    "bench.py",
    "scenarios.py",
    "suite.py",
}


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_no_import_runs_from_a_lower_floor_to_a_higher_one() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports is not None, "import-linter is a test dependency"
    proc = subprocess.run(
        [lint_imports, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 4 kept, 0 broken." in proc.stdout


def test_the_layers_contract_names_every_folder_and_top_level_module() -> None:
    (floors,) = [
        c
        for c in _pyproject()["tool"]["importlinter"]["contracts"]
        if c.get("containers") == ["dbprobe"]
    ]
    named = {name.strip() for layer in floors["layers"] for name in layer.split("|")}
    children = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    children |= {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert named == children


def test_no_module_is_over_600_lines() -> None:
    sizes = {
        str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    assert {path: n for path, n in sizes.items() if n > 600} == {}


def test_the_top_level_holds_only_entry_points_and_the_errors() -> None:
    assert {p.name for p in PACKAGE.glob("*.py")} == ENTRY_POINTS


def test_every_package_is_installed() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in PACKAGE.rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found | {"dbprobe.seeds"} == listed
