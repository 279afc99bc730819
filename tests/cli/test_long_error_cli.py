"""A scenario whose error message is ten megabytes long: the run ends in normal time."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import run_dbprobe

HUGE_ERROR = """
import dbprobe


@dbprobe.scenario(weight=1)
async def huge_error(ctx):
    raise ValueError("E" * 10_000_000)
"""


def test_a_ten_megabyte_error_message_is_kept_cut_and_the_run_ends(tmp_path: Path) -> None:
    scenario = tmp_path / "huge.py"
    scenario.write_text(HUGE_ERROR)
    out = tmp_path / "run.json"
    # 40 failures of 10 MB each: the old quadratic masking never ended (61 s for 100 kB).
    proc = run_dbprobe(
        ["run", str(scenario), "--threads", "2", "--transactions", "20", "--warmup", "0",
         "--retries", "0", "--json", str(out), "--quiet"],
        tmp_path,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    data = json.loads(out.read_text())
    (op,) = data["operations"]
    assert (op["count"], op["errors"]) == (40, 40)
    (sample, *_) = op["error_samples"]["other"]
    assert sample.startswith("ValueError: EEE")
    assert sample.endswith("... [cut: 10,000,012 chars]")
    assert len(out.read_bytes()) < 200_000
    (finding,) = [f for f in data["findings"] if f["kind"] == "error_rate"]
    assert finding["evidence"]["first_error"] == sample
