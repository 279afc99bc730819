"""The files dbprobe writes: each one whole or not at all, and checked before a run.

Every file dbprobe writes (``--json``, ``--markdown``, ``--html``,
``--export``, the suite's directory) goes through :func:`write_text_atomic`:
the text is written to a temporary file beside the target and renamed over
it, so a full disk or a kill mid-write leaves the old file as it was, never
a truncated one. Missing parent directories are created, for every format
alike.

:func:`unwritable_reason` and :func:`unusable_directory_reason` answer, before
a run, whether a path could be written, by trying it the way the write will
(a temporary file in the same directory), so a measurement is never thrown
away for want of a place to put it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["unusable_directory_reason", "unwritable_reason", "write_text_atomic"]


def _is_special(path: Path) -> bool:
    """A device or a pipe (``/dev/stdout``, ``/dev/null``): written in place, never replaced."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it, then rename.

    Parent directories are created. A device or a pipe is written in place:
    renaming over ``/dev/stdout`` would replace the device with a file. A
    symbolic link is followed, and stays a link.
    """
    # Through a symbolic link to the file it names: renaming over the link
    # would replace the link, not the file.
    path = Path(os.path.realpath(path))
    if _is_special(path):
        path.write_text(text, encoding="utf-8")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            # On the disk before the rename, or a crash could leave an empty file
            # under the old name.
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; what dbprobe writes is no secret (it
        # never holds a password), so give it the mode an ordinary file gets.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _nearest_existing(directory: Path) -> Path:
    """``directory``, or its closest ancestor that exists (where the first mkdir happens)."""
    while not directory.exists() and directory.parent != directory:
        directory = directory.parent
    return directory


def _try_writing_in(directory: Path, name: str) -> str | None:
    """Create and remove a temporary file as :func:`write_text_atomic` will; why not, or None.

    Trying is the only reliable test: permissions say nothing for root, a
    read-only mount, /proc, or a name too long for the file system.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    except OSError as exc:
        return f"cannot create a file in {directory}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(tmp)
    return None


def unwritable_reason(path: Path) -> str | None:
    """Why ``path`` cannot be written as a file, or None if it can.

    Refused: a directory, a missing parent below a file (``report.json/x``),
    a directory where nothing can be created. A missing parent directory is
    fine (it is created); so is a device or pipe open for writing.
    """
    path = Path(path)
    try:
        if path.is_dir():
            return "is a directory; give a file path"
        if _is_special(path):
            return None if os.access(path, os.W_OK) else "is not writable"
        parent = _nearest_existing(path.parent)
        if not parent.is_dir():
            return f"{parent} is a file, not a directory"
    except OSError as exc:  # e.g. a name longer than the file system allows
        return exc.strerror or str(exc)
    return _try_writing_in(parent, path.name)


def unusable_directory_reason(path: Path) -> str | None:
    """Why files cannot be written into directory ``path`` (created if missing), or None."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            return "is a file, not a directory"
        existing = _nearest_existing(path)
        if not existing.is_dir():
            return f"{existing} is a file, not a directory"
    except OSError as exc:
        return exc.strerror or str(exc)
    return _try_writing_in(existing, "dbprobe")
