"""Renderers of results: console, Markdown, HTML with its plots, CI exports; ``dbprobe merge``.

Each output format is one module here; each takes a
:class:`~dbprobe.result.model.Report` (or a
:class:`~dbprobe.report.view.ReportView` with its comparison and trends) and
returns or writes text. Nothing below this floor imports them.
"""
