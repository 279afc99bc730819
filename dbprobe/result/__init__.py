"""The result of a run, the lowest floor above the metrics: what every other part produces or reads.

``model`` (Report, OperationReport...), ``findings`` (Finding, FindingKind and
each kind's evidence), ``config`` (a run's options, typed), ``options`` (the
names those options take), ``jsonio`` (schema ``dbprobe.report/1`` in and
out) and ``merge`` (parts that ran at once, as one). Nothing is imported
here, so the command line's parser can read ``options`` and ``findings``
without SQLAlchemy or rich.
"""
