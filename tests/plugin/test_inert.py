"""Installed but unused, the plugin costs nothing and changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Written by the generated suite's own conftest at the end of its session.
RECORD_MODULES = """
import json, sys

def pytest_sessionfinish(session):
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "dbprobe"))
    with open("modules.json", "w") as f:
        json.dump(loaded, f)
"""


def test_a_session_that_uses_no_dbprobe_fixture_imports_neither_sqlalchemy_nor_dbprobe(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(RECORD_MODULES)
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    loaded = json.loads((pytester.path / "modules.json").read_text())
    # The plugin is loaded (it is registered), and nothing else of dbprobe's.
    assert loaded == ["dbprobe", "dbprobe.pytest_plugin"]
    plugins = subprocess.run(
        [sys.executable, "-m", "pytest", "--trace-config", "--co", "-q", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "dbprobe.pytest_plugin" in plugins


def test_importing_the_plugin_after_pytest_loads_only_the_plugin() -> None:
    # What the plugin adds to every pytest start in an environment where it is
    # installed: the modules its import brings beyond pytest's own. (Its time
    # is measured in benchmarks/plugin_import.py, not asserted here.)
    probe = (
        "import sys, pytest, pytest_asyncio\n"
        "before = set(sys.modules)\n"
        "import dbprobe.pytest_plugin\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "['dbprobe', 'dbprobe.pytest_plugin']"


def test_the_plugin_offers_the_scales_dbprobe_seeds() -> None:
    # The plugin checks --dbprobe-scale without importing dbprobe: its own list
    # must be dbprobe's.
    from dbprobe.pytest_plugin import SCALES
    from dbprobe.result.options import SCALE_NAMES

    assert tuple(SCALES) == tuple(SCALE_NAMES)
