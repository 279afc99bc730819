"""The ``isolation`` probe: the Hermitage tests (``hermitage``), their verdicts (``verdicts``),
the matrix (``matrix``) and the run (``probe``).

Nothing is imported here: the command line reads the test names from
``hermitage`` (standard library only) without importing SQLAlchemy.
"""
