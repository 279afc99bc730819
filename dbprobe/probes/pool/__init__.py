"""The ``pool`` probe: the run (``probe``), its model (``model``), its section (``section``),
and what its server sessions were doing at the first timeout (``activity``)."""
