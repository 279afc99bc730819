"""dbprobe workloads as Locust users, on Locust's distributed engine.

Installed with ``pip install 'dbprobe[locust]'``. A locustfile::

    from dbprobe.locust import DbprobeUser

    class Db(DbprobeUser):
        pass

then ``locust -f locustfile.py --headless -u 20 -t 60s --processes 2
--dbprobe-db postgresql+asyncpg://... --dbprobe-json report.json``.
Importing :class:`DbprobeUser` from here registers dbprobe's listeners on
Locust's events (:mod:`dbprobe.locust.plugin`). Locust is imported only
then: importing Locust monkey-patches the interpreter with gevent, which
the pure modules of this package (settings, the master's merge) must not do
to whoever imports them, a test suite for one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbprobe.locust.user import DbprobeUser, OperationFailed

__all__ = ["DbprobeUser", "OperationFailed"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dbprobe.locust import user

        return getattr(user, name)
    raise AttributeError(f"module 'dbprobe.locust' has no attribute {name!r}")
