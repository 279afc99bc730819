"""Loading user scenario files: what is collected, and a clear error for each way it can fail."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dbprobe.errors import ConfigError, UsageError
from dbprobe.scenarios import load_scenarios, scenario


def _write(tmp_path: Path, body: str, name: str = "scenarios.py") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


GOOD = textwrap.dedent(
    """
    from dbprobe.scenarios import scenario

    @scenario(weight=3)
    async def browse(ctx):
        pass

    @scenario
    async def checkout(ctx):
        pass

    @scenario(weight=0, name="rare")
    async def sometimes(ctx):
        pass

    async def not_a_scenario(ctx):
        pass

    async def setup(engine):
        pass

    async def teardown(engine):
        pass

    REFERENCE_DOMAIN = True
    """
)


def test_a_file_gives_its_decorated_functions_in_order_with_hooks(tmp_path: Path) -> None:
    loaded = load_scenarios(str(_write(tmp_path, GOOD)))
    assert [(s.name, s.weight) for s in loaded.scenarios] == [
        ("browse", 3),
        ("checkout", 1),
        ("rare", 0),
    ]
    assert [op.name for op in loaded.operations()] == ["browse", "checkout"]
    assert loaded.setup is not None
    assert loaded.setup.__name__ == "setup"
    assert loaded.teardown is not None
    assert loaded.make_engine is None
    assert loaded.reference_domain is True
    assert loaded.scenarios[0].defined_at == f"{tmp_path / 'scenarios.py'}:4"  # its decorator
    # Named with --only, a scenario of weight 0 runs too.
    assert [(op.name, op.weight) for op in loaded.operations(["rare"])] == [("rare", 1)]


def test_file_attr_and_module_attr_select_scenarios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        GOOD + "\nCHOSEN = [checkout]\n",
        name="shop_scenarios.py",
    )
    assert [s.name for s in load_scenarios(f"{path}:browse").scenarios] == ["browse"]
    assert [s.name for s in load_scenarios(f"{path}:CHOSEN").scenarios] == ["checkout"]
    monkeypatch.syspath_prepend(str(tmp_path))
    by_module = load_scenarios("shop_scenarios:CHOSEN")
    assert [s.name for s in by_module.scenarios] == ["checkout"]
    assert [s.name for s in load_scenarios("shop_scenarios").scenarios] == [
        "browse",
        "checkout",
        "rare",
    ]


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        load_scenarios(str(tmp_path / "nowhere.py"))
    assert str(err.value) == f"scenario file {tmp_path / 'nowhere.py'} does not exist"


def test_an_unknown_module_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no scenario file or module 'no_such_module_x'"):
        load_scenarios("no_such_module_x")


def test_a_file_without_scenarios_is_a_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "async def browse(ctx):\n    pass\n")
    with pytest.raises(UsageError) as err:
        load_scenarios(str(path))
    assert str(err.value).startswith(f"no scenarios in {path}: decorate async functions")


def test_a_sync_function_marked_as_scenario_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "from dbprobe.scenarios import scenario\n\n@scenario(weight=2)\ndef browse(ctx):\n    pass\n",
    )
    with pytest.raises(ConfigError) as err:
        load_scenarios(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: @dbprobe.scenario needs an async function, but browse")
    assert f"({path}:3)" in message  # the decorated function
    assert "write `async def browse(ctx): ...`" in message


def test_a_file_that_raises_on_import_is_a_usage_error_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "import os\n\nraise RuntimeError('no config here')\n")
    with pytest.raises(UsageError) as err:
        load_scenarios(str(path))
    assert str(err.value) == (
        f"importing scenarios {path} failed at {path}:3: RuntimeError: no config here"
    )


def test_a_syntax_error_is_a_usage_error_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "async def browse(ctx)\n    pass\n")
    with pytest.raises(UsageError, match=r"has a syntax error at line 1: expected ':'"):
        load_scenarios(str(path))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "def setup(engine):\n    pass\n",
            "setup .* must be a coroutine function: `async def setup\\(engine\\): ...`",
        ),
        ("teardown = 3\n", "teardown must be a function, got int"),
    ],
)
def test_hooks_that_are_not_coroutines_are_usage_errors(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _write(tmp_path, GOOD.replace("async def setup", "async def _setup") + body)
    path.write_text(path.read_text().replace("async def teardown", "async def _teardown"))
    with pytest.raises(UsageError, match=message):
        load_scenarios(str(path))


def test_scenarios_must_take_one_context_argument_and_a_whole_weight() -> None:
    async def no_args() -> None:
        pass

    with pytest.raises(ConfigError, match="must take one argument, the context"):
        scenario(no_args)  # type: ignore[arg-type]

    async def ok(ctx: object) -> None:
        pass

    with pytest.raises(ConfigError, match=r"weight=...\) of ok must be a whole number"):
        scenario(weight=-1)(ok)


def test_two_scenarios_with_one_name_and_unknown_only_names_are_config_errors(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, GOOD + '\n@scenario(name="browse")\nasync def other(ctx):\n    pass\n')
    with pytest.raises(ConfigError, match="two scenarios are named 'browse'"):
        load_scenarios(str(path))
    good = load_scenarios(str(_write(tmp_path, GOOD, name="good.py")))
    with pytest.raises(ConfigError, match=r"unknown scenario 'pay' in --only: .* browse, checkout"):
        good.select(["pay"])
