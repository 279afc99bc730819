"""The README's promises that CI depends on."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", readme)


def test_readme_opens_with_the_install_and_run_command_then_the_test_command() -> None:
    commands = _readme_commands()
    assert commands[0] == "pip install -e . && python -m dbprobe uow --threads 10"
    assert commands[1] == "pip install -e '.[test]' && python -m pytest"


def test_ci_runs_exactly_the_readme_test_command_with_postgres_configured() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in ci.splitlines() if line and not line.startswith("#")]
    assert _readme_commands()[1] in commands
    # Then the same suite once more on the oldest versions pyproject.toml allows.
    after = commands[commands.index(_readme_commands()[1]) + 1 :]
    assert "pip install --quiet -c .ci/min-versions.txt -e '.[test]'" in after
    assert after[-1] == "python -m pytest"
    assert "DBPROBE_PG_URL" in ci
    assert "export CI=true" in ci


def test_every_dbprobe_import_the_readme_shows_resolves() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    imports = re.findall(
        r"^(from dbprobe[\w.]* import [\w, ]+|import dbprobe[\w.]*)$", readme, re.M
    )
    assert imports  # the README shows how to import what it documents
    for line in imports:
        exec(compile(line, "README.md", "exec"), {})  # raises ImportError if it moved
