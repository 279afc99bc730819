"""The run header's facts about the workload."""

from __future__ import annotations

import pytest

from dbprobe.report.header import workload_facts
from tests import synthetic


@pytest.mark.parametrize(("threads", "said"), [(1, "1 worker"), (4, "4 workers")])
def test_the_workers_are_counted_in_words_that_agree(threads: int, said: str) -> None:
    report = synthetic.report({"a": [1.0] * 10}, config=synthetic.run_config(threads=threads))
    assert workload_facts(report) == [said, "isolation serializable"]


def test_the_event_loop_is_named_beside_the_python_it_ran_on() -> None:
    import dataclasses

    from rich.console import Console

    from dbprobe.report.console import print_report
    from dbprobe.report.markdown import format_markdown
    from dbprobe.report.text import run_line

    old = synthetic.report({"a": [1.0] * 10})
    report = dataclasses.replace(old, run=dataclasses.replace(old.run, loop="uvloop"))
    assert "Python 3.11.2, uvloop" in run_line(report)
    assert "Python 3.11.2, uvloop" in format_markdown(report)
    console = Console(record=True, width=200)
    print_report(report, console)
    assert "Python 3.11.2, uvloop" in console.export_text()
    # A report that did not record its loop names none.
    assert "Python 3.11.2, 4 workers" in run_line(old)
