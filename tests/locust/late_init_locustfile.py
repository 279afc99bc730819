"""The paced user, in a worker whose ``init`` event reaches dbprobe late.

A Locust worker connects to its master, and may be sent the spawn message,
before Locust fires ``init``: its main greenlet waits for the master's
acknowledgement meanwhile, and the message greenlet goes on to the spawn. On
a machine busy with other work, a worker's ``test_start`` once came first
and found dbprobe uninitialised. This file's own ``init`` listener, added
before dbprobe's, yields for a while, so that the spawn is handled before
dbprobe sees ``init`` every time.
"""

import gevent
from locust import constant, events


@events.init.add_listener
def _yield_before_dbprobe_sees_init(**_: object) -> None:
    gevent.sleep(2)


from dbprobe.locust import DbprobeUser  # noqa: E402  (its listeners come after ours)


class PacedDbprobe(DbprobeUser):  # the master's class name: Locust matches them
    wait_time = constant(0.1)
