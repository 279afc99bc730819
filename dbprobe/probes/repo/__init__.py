"""The ``repo`` probe: the repository query catalogue (``catalogue``) and its run (``probe``)."""
