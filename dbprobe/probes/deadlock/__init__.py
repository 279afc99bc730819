"""The ``deadlock`` probe: options, transfers and the run (``probe``), ledger check, section."""
