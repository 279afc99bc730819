"""The ``pool`` probe: the run (``probe``), its model (``model``), its section (``section``)."""
