"""The public API is what dbprobe.__all__ says, kept sorted (as httpx does)."""

from __future__ import annotations

import dbprobe


def test_all_is_sorted_and_every_name_exists() -> None:
    assert list(dbprobe.__all__) == sorted(dbprobe.__all__)
    for name in dbprobe.__all__:
        assert hasattr(dbprobe, name), name


def test_public_names_are_exactly_the_exported_ones() -> None:
    public = {name for name in vars(dbprobe) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(dbprobe, name)).__name__ == "module"}
    assert public - modules - {"annotations"} == set(dbprobe.__all__)
