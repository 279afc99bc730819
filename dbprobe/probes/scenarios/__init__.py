"""The ``run`` probe: scenario files loaded (``declare``) and run under load (``probe``)."""
