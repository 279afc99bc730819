"""Where a finding should point: ``path:line`` of a line in a test's own module."""

from __future__ import annotations

from pathlib import Path


def line_of(module_file: str, text: str) -> str:
    """``path:line`` of the one line of ``module_file`` that holds ``text``.

    Found by its text, not a number, so that editing the test above it does
    not break it; a line holding ``text`` as a string literal (the call that
    names it, however it is wrapped) is skipped.
    """
    path = Path(module_file).resolve()
    lines = path.read_text(encoding="utf-8").splitlines()
    quoted = (f'"{text}', f"'{text}")
    (number,) = [
        i for i, line in enumerate(lines, 1) if text in line and not any(q in line for q in quoted)
    ]
    return f"{path}:{number}"
