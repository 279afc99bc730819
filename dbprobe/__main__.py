"""``python -m dbprobe``."""

import sys

from dbprobe.cli import main

sys.exit(main())
