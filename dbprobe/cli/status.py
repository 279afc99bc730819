"""The command line's exit statuses.

0 success; 1 findings that fail the run (an SLO violation, a finding named by
``--fail-on``, a regression at or above the gate's level); 2 bad input or an
unusable target (one line on stderr, before any load runs), or an output that could
not be written after the run (one line per output; the others are written); 130 interrupted
(Ctrl-C or SIGTERM), after the partial report is written.
"""

from __future__ import annotations

__all__ = ["EXIT_FINDINGS", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
