"""The regression gate: the history store of baselines and runs, statistics, comparison,
trends, SLOs, and the one decision (:mod:`dbprobe.gate.decide`) that the CLI, the suite and
the pytest plugin share."""
