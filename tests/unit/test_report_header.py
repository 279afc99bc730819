"""The run header's facts about the workload."""

from __future__ import annotations

import pytest

from dbprobe.report.header import workload_facts
from tests import synthetic


@pytest.mark.parametrize(("threads", "said"), [(1, "1 worker"), (4, "4 workers")])
def test_the_workers_are_counted_in_words_that_agree(threads: int, said: str) -> None:
    report = synthetic.report({"a": [1.0] * 10}, config=synthetic.run_config(threads=threads))
    assert workload_facts(report) == [said, "isolation serializable"]
