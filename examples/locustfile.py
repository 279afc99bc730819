"""dbprobe's operations as Locust users: `locust -f examples/locustfile.py --dbprobe-db URL ...`.

`--dbprobe-probe uow` (the default) or `repo` runs a built-in probe's mix;
`--dbprobe-scenarios FILE` runs a `dbprobe run` scenario file. See the README,
"Locust: one host, several processes, several hosts".
"""

from dbprobe.locust import DbprobeUser


class Dbprobe(DbprobeUser):
    """One user: a dbprobe worker in a closed loop (set wait_time to pace it)."""
