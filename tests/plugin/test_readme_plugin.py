"""The README's plugin section runs as written: each part is a project of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.plugin import runpytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```(python|toml)\n(.*?)```", re.DOTALL)


def _parts() -> dict[str, dict[str, str]]:
    """Each ``###`` part of the plugin section: its files, named by each block's first line."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## In your test suite: the pytest plugin")
    section = text[start : text.index("\n## ", start + 1)]
    parts: dict[str, dict[str, str]] = {}
    for chunk in section.split("\n### ")[1:]:
        title = chunk.splitlines()[0]
        files: dict[str, str] = {}
        for _, body in BLOCK.findall(chunk):
            first, _, rest = body.partition("\n")
            assert first.startswith("# "), f"{title}: a block must start with '# FILENAME'"
            files[first[2:].strip()] = rest
        parts[title] = files
    return parts


PARTS = _parts()


def test_the_section_has_a_part_for_each_way_to_run() -> None:
    assert list(PARTS) == [
        "Strict mode (pytest-asyncio's default)",
        "Auto mode",
        "anyio",
        "Your own engine, your own tables",
    ]


@pytest.mark.parametrize("title", list(PARTS))
def test_each_part_of_the_plugin_section_passes_as_a_fresh_project(
    title: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DBPROBE_DB_URL", raising=False)
    monkeypatch.setenv("DBPROBE_DATA_DIR", str(tmp_path / "data"))
    for name, body in PARTS[title].items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    tests = sum(body.count("async def test_") for body in PARTS[title].values())
    # -W error: a deprecation warning (an unset loop scope) fails the part too.
    result = runpytest(pytester, "-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=tests)
