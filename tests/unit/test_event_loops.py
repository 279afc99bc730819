"""--loop: which event loop runs the load, and what a run records of it."""

from __future__ import annotations

import asyncio
import sys

import pytest

from dbprobe.errors import ConfigError
from dbprobe.load.loops import loop_factory, running_loop_kind
from dbprobe.result.merge import merge_loops


async def _kind() -> str:
    await asyncio.sleep(0)
    return running_loop_kind()


def _run_on(choice: str) -> str:
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(_kind())


@pytest.mark.parametrize("choice", ["asyncio", "uvloop"])
def test_the_loop_asked_for_is_the_loop_that_runs(choice: str) -> None:
    pytest.importorskip("uvloop")
    assert _run_on(choice) == choice


def test_auto_is_uvloop_when_it_imports() -> None:
    pytest.importorskip("uvloop")
    assert _run_on("auto") == "uvloop"


def test_without_uvloop_auto_is_asyncio_and_uvloop_is_refused_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules: `import uvloop` raises ModuleNotFoundError, as when absent.
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert _run_on("auto") == "asyncio"
    with pytest.raises(ConfigError) as info:
        loop_factory("uvloop")
    assert str(info.value) == (
        "--loop uvloop: uvloop is not installed; pip install 'dbprobe[fast]'"
    )


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ConfigError, match="trio"):
        loop_factory("trio")


@pytest.mark.parametrize(
    ("loops", "merged"),
    [
        (["uvloop", "uvloop"], "uvloop"),
        (["asyncio"], "asyncio"),
        (["asyncio", "uvloop"], None),
        (["uvloop", None], None),
        ([None, None], None),
        ([], None),
    ],
)
def test_parts_keep_their_loop_only_when_they_all_recorded_the_same(
    loops: list[str | None], merged: str | None
) -> None:
    assert merge_loops(loops) == merged
