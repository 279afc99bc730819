"""examples/locustfile.py's user, paced: what these tests check is accounting, not speed.

Unpaced, each user runs operations back to back, and a few seconds of a master
and two workers took both cores of the machine for the run (15 s of CPU for a
5 s test: a uow transaction is some 10 ms of ORM work), slowing every other
test beside them. A tenth of a second between a user's operations still gives
every path the tests check (operations in flight at the stop, every
transaction type, an N+1 from the lazy scenario) dozens of operations. The
README's own commands run the example as written (test_readme_locust.py).
"""

from locust import constant

from dbprobe.locust import DbprobeUser


class PacedDbprobe(DbprobeUser):
    wait_time = constant(0.1)
