"""Ctrl-C and SIGTERM end a command's load gracefully: they set its stop event.

The run then finishes its operations in flight and writes its report, as
an interrupted run must.
"""

from __future__ import annotations

import asyncio
import signal

__all__ = ["install_stop_signals"]


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
