"""The regression gate's false-alarm rate, measured: pairs of identical runs, compared.

    python benchmarks/gate_false_alarms.py                  # 20 pairs of `dbprobe repo`, defaults
    python benchmarks/gate_false_alarms.py --pairs 5 --probe uow -- --threads 4

Each pair is two back-to-back runs of the same probe, same options, same
code, in fresh processes (as CI runs them), compared with ``dbprobe compare``.
A regression in such a pair is a false alarm. The script prints, for every
pair, the exit status and the summary line, then the totals: pairs with a
false alarm, operations falsely called regressed, and how the verdicts were
spread (unchanged, insufficient data, improved). It needs nothing but dbprobe
and writes only into a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

_VERDICT = re.compile(r": (regressed|unchanged|improved|insufficient data)")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _dbprobe(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbprobe", *args], env=env, capture_output=True, text=True
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--probe", default="repo")
    parser.add_argument("options", nargs="*", help="options of the probe, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dbprobe-gate-") as tmp:
        env = os.environ | {"DBPROBE_DATA_DIR": str(Path(tmp) / "data")}
        env.pop("DBPROBE_HISTORY", None)
        verdicts: Counter[str] = Counter()
        alarmed = 0
        for pair in range(args.pairs):
            files = [Path(tmp) / f"{pair}-{side}.json" for side in ("a", "b")]
            for path in files:
                run = _dbprobe([args.probe, *args.options, "--json", str(path), "--quiet"], env)
                if run.returncode != 0:
                    _say(f"pair {pair}: the run failed: {run.stderr.strip()}")
                    return 2
            compared = _dbprobe(["compare", *map(str, files)], env)
            lines = compared.stdout.strip().splitlines()
            found = Counter(m.group(1) for line in lines if (m := _VERDICT.search(line)))
            verdicts.update(found)
            alarmed += found["regressed"] > 0
            _say(f"pair {pair + 1:2}: exit {compared.returncode}, {lines[-1] if lines else ''}")
        total = sum(verdicts.values())
        _say(
            f"\n{args.pairs} pairs of identical `dbprobe {args.probe}` runs: "
            f"{alarmed} with a false alarm ({alarmed / args.pairs:.0%}); "
            f"{verdicts['regressed']} of {total} operation verdicts falsely regressed; "
            + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
