"""dbprobe/result/files.py on real files: atomic writes and the check before a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dbprobe.result.files import unusable_directory_reason, unwritable_reason, write_text_atomic


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "r.md"
    target.write_text("old\n")
    write_text_atomic(target, "new ✓\n")
    assert target.read_text(encoding="utf-8") == "new ✓\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "a" / "b" / "r.json", "{}\n")
    assert (tmp_path / "a" / "b" / "r.json").read_text() == "{}\n"


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    target.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "half written, then \udc80 cannot be encoded")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text_atomic(link, "new\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"


def test_a_fifo_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so opening to write succeeds
    try:
        write_text_atomic(fifo, "through the pipe\n")
        assert os.read(reader, 100) == b"through the pipe\n"
    finally:
        os.close(reader)
    assert not fifo.is_file()  # still the pipe


def test_why_a_path_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    assert unwritable_reason(tmp_path / "new.json") is None
    assert unwritable_reason(tmp_path / "no" / "such" / "dir" / "new.json") is None
    assert unwritable_reason(tmp_path) == "is a directory; give a file path"
    assert unwritable_reason(tmp_path / "afile" / "x.json") == (
        f"{tmp_path / 'afile'} is a file, not a directory"
    )
    assert unwritable_reason(Path("/proc/dbprobe.json")) == (
        "cannot create a file in /proc: No such file or directory"
    )
    assert unwritable_reason(tmp_path / ("x" * 300)) == "File name too long"
    assert unwritable_reason(Path("/dev/null")) is None
    assert unusable_directory_reason(tmp_path / "new" / "dir") is None
    assert unusable_directory_reason(tmp_path / "afile") == "is a file, not a directory"
    # Nothing is left behind by the checks.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
