"""Renderers of results: console, Markdown, HTML with its plots, CI exports; ``dbprobe merge``.

Each output format is one module here; each takes a
:class:`~dbprobe.result.model.Report` (or a
:class:`~dbprobe.report.view.ReportView` with its comparison and trends) and
returns or writes text. Nothing below this floor imports them.

The probes' own sections (a pool timeline, an isolation matrix...) are read
from their JSON into views (``section_views``, ``probe_views``), said once as
blocks (``section_blocks``, ``probe_blocks``) and laid out by each format
(``sections_console``, ``sections_markdown``, ``sections_html``): a new
section kind is a view and its blocks, a new format a layout of the blocks.
"""
