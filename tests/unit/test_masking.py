"""Masking and keeping error messages: linear in the text, bounded in what is kept."""

from __future__ import annotations

import re
import time

import pytest

from dbprobe.database.url import (
    KEPT_MESSAGE_CHARS,
    error_line,
    mask_url_text,
    resolve_target,
)
from dbprobe.errors import DatabaseUrlError

SECRET = "Zq9-SECRET-pw"


def test_masking_ten_megabytes_of_one_character_ends_quickly() -> None:
    # The old pattern backtracked over every start position: 100k chars took 61 s.
    for text in ("E" * 10_000_000, "a:" * 5_000_000, "x://" * 2_500_000, "@:/" * 3_000_000):
        started = time.perf_counter()
        assert mask_url_text(text) == text
        assert time.perf_counter() - started < 2.0, text[:8]


def test_a_kept_error_line_is_its_first_line_masked_and_cut_with_a_marker() -> None:
    target = resolve_target(f"postgresql+asyncpg://u:{SECRET}@h/db", {})
    long = ValueError("E" * 10_000_000)
    line = error_line(long, target)
    assert line.startswith("ValueError: EEEE")
    assert line.endswith(f"... [cut: {len('ValueError: ') + 10_000_000:,} chars]")
    assert len(line) < KEPT_MESSAGE_CHARS + 40
    # The password is masked before the cut, so no part of it survives at the edge.
    edge = RuntimeError("x" * (KEPT_MESSAGE_CHARS - 20) + f"postgresql://u:{SECRET}@h/db\nnext")
    assert "SECRET" not in error_line(edge, target)
    assert (
        error_line(RuntimeError(f"no {SECRET} here\nsecond"), target) == "RuntimeError: no *** here"
    )
    assert error_line(RuntimeError(""), target) == "RuntimeError"


def test_every_password_form_is_masked_in_free_text() -> None:
    cases = {
        f"postgresql://u@h/db?password={SECRET}&sslmode=off": "postgresql://u@h/db?password=***&sslmode=off",
        f"postgresql://u@h/db?PASSWD={SECRET}": "postgresql://u@h/db?PASSWD=***",
        f"host=h password={SECRET} dbname=d": "host=h password=*** dbname=d",
        f"host=h password = '{SECRET} x\\' y' dbname=d": "host=h password = *** dbname=d",
        f"--db=postgresql://u:{SECRET}@x@127.0.0.1/db next": "--db=postgresql://u:***@127.0.0.1/db next",
        f"postgresql://u:{SECRET}/x@h/db": "postgresql://u:***@h/db",
    }
    for text, masked in cases.items():
        assert mask_url_text(text) == masked


def test_a_target_shows_no_password_of_its_query_nor_its_encoded_form() -> None:
    target = resolve_target(f"postgresql+asyncpg://u@h:5432/db?password={SECRET}", {})
    assert target.masked == "postgresql+asyncpg://u@h:5432/db?password=***"
    encoded = resolve_target("postgresql+asyncpg://u:Zq9%2DSECRET%2Dpw@h/db", {})
    assert encoded.url.password == SECRET
    # A driver quoting the password as the URL held it (encoded where it must be).
    at_sign = resolve_target("postgresql+asyncpg://u:Zq9%40SECRET%2Fpw@h/db", {})
    assert error_line(OSError("bad Zq9%40SECRET%2Fpw or Zq9@SECRET/pw"), at_sign) == (
        "OSError: bad *** or ***"
    )


def test_an_unencoded_at_in_the_password_and_passwd_are_refused_without_echo() -> None:
    for url, said in (
        (f"postgresql+asyncpg://u:{SECRET}@x@127.0.0.1/db", "%40"),
        (f"postgresql+asyncpg://u@127.0.0.1/db?passwd={SECRET}", "?password="),
    ):
        with pytest.raises(DatabaseUrlError, match=re.escape(said)) as refused:
            resolve_target(url, {})
        assert "SECRET" not in str(refused.value)
