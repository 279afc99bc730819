"""The public API is what dbprobe.__all__ says, kept sorted (as httpx does)."""

from __future__ import annotations

import subprocess
import sys

import dbprobe
from dbprobe.database.engine import Isolation
from dbprobe.result.options import ISOLATION_LEVELS


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert list(dbprobe.__all__) == sorted(dbprobe.__all__)
    for name in dbprobe.__all__:
        assert getattr(dbprobe, name) is not None, name


def test_public_names_are_exactly_the_exported_ones() -> None:
    public = {n for n in dir(dbprobe) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(dbprobe, n)).__name__ == "module"}
    assert public - modules - {"annotations", "import_module", "TYPE_CHECKING", "Any"} == set(
        dbprobe.__all__
    )


def test_importing_dbprobe_and_its_cli_parser_does_not_import_sqlalchemy() -> None:
    # `dbprobe --help` must stay fast: the parser is built from light modules.
    code = "import sys, dbprobe, dbprobe.cli; dbprobe.cli.build_parser(); print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_cli_offers_exactly_the_engines_isolation_levels() -> None:
    assert tuple(i.value for i in Isolation) == ISOLATION_LEVELS


def test_capture_stays_the_function_after_its_module_is_imported() -> None:
    code = (
        "import dbprobe.assertions, dbprobe.pytest_plugin, dbprobe; "
        "print(callable(dbprobe.capture) and type(dbprobe.capture).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "function"
