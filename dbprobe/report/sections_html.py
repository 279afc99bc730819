"""Report sections in HTML: the blocks of :mod:`dbprobe.report.blocks`, with their plots.

A run with a timeline gets its time series drawn (throughput, p50/p99,
errors per second; at a fixed rate also the target rate and the schedule
lag), the pool probe its connections per second, a run at several scales
each operation's p50 against the rows it reads. Plots are inline PNG, as
everywhere in the HTML report: the page references nothing outside itself.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable

from dbprobe.probes.scaling import ScalingSection
from dbprobe.report.blocks import Block, Bullets, Cell, Heading, Lines, Preformatted, Table, Tone
from dbprobe.report.probe_views import PoolView
from dbprobe.report.section_blocks import coarsen_timeline, section_blocks
from dbprobe.report.section_views import SectionView, TimelineView

__all__ = [
    "GROWTH_PLOT_ALT",
    "POOL_PLOT_ALT",
    "SECTIONS_CSS",
    "format_block_html",
    "format_blocks_html",
    "format_section_views_html",
    "timeline_plot_alt",
]

SECTIONS_CSS = """
.t-dim { color: #666; } .t-good { color: #1e7a46; } .t-warn { color: #a15c00; }
.t-bad { color: #b3261e; font-weight: 600; }
p.title { margin: 1rem 0 .2rem; font-style: italic; }
pre { background: #f5f5f7; padding: .5rem .8rem; overflow-x: auto; font-size: .85rem; }
details { margin: .5rem 0 1rem; } summary { cursor: pointer; color: #333; }
"""

POOL_PLOT_ALT = "pool connections per second: demand, checked out, waiting, timeouts"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _td(c: Cell, text_column: bool) -> str:
    classes = [cls for cls in ("text" if text_column else "", _tone(c.tone)) if cls]
    attr = f' class="{" ".join(classes)}"' if classes else ""
    content = f"<code>{_e(c.text)}</code>" if c.code else _e(c.text)
    return f"<td{attr}>{content}</td>"


def _tone(tone: Tone) -> str:
    return "" if tone is Tone.PLAIN else f"t-{tone.value}"


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _table(block: Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in block.headers)
    body = "".join(
        "<tr>" + "".join(_td(c, i in block.left and i > 0) for i, c in enumerate(row)) + "</tr>"
        for row in block.rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    caption = f'<p class="sub">{_e(block.caption)}</p>' if block.caption else ""
    if block.long:
        return (
            f"<details><summary>{_e(block.title)}: {_rows(len(block.rows))}</summary>"
            f"{table}{caption}</details>"
        )
    title = f'<p class="title">{_e(block.title)}</p>' if block.title else ""
    return title + table + caption


def format_block_html(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h2>{_e(block.text)}</h2>"
    if isinstance(block, Lines):
        cls = _tone(block.tone)
        attr = f' class="{cls}"' if cls else ""
        return f"<p{attr}>" + "<br>".join(_e(line) for line in block.lines) + "</p>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Bullets):
        cls = _tone(block.tone)
        attr = f' class="{cls}"' if cls else ""
        items = "".join(f"<li>{_e(item)}</li>" for item in block.items)
        return f"<p>{_e(block.title)}</p><ul{attr}>{items}</ul>"
    if isinstance(block, Preformatted):
        return f"<p>{_e(block.title)}:</p><pre>{_e(block.text)}</pre>"
    raise TypeError(f"no HTML layout for {type(block).__name__}")


def format_blocks_html(blocks: Iterable[Block | None]) -> str:
    return "\n".join(format_block_html(b) for b in blocks if b is not None)


GROWTH_PLOT_ALT = "p50 against the rows read, per operation, log-log, with the fitted power"


def timeline_plot_alt(view: TimelineView) -> str:
    text = "throughput, p50/p99 latency and errors per second"
    return text + (", target rate and schedule lag" if view.open_loop else "")


def _figures(view: SectionView) -> list[str]:
    # matplotlib, imported only when an HTML report is drawn.
    from dbprobe.report import timeseries_plots

    if isinstance(view, TimelineView) and view.timeline.points:
        points = coarsen_timeline(view.timeline, timeseries_plots.MAX_POINTS)
        return [_img(timeseries_plots.timeline_plot(points), timeline_plot_alt(view))]
    if isinstance(view, ScalingSection) and any(op.fit for op in view.operations):
        from dbprobe.report.growth_plot import growth_plot

        return [_img(growth_plot(view), GROWTH_PLOT_ALT)]
    if isinstance(view, PoolView) and view.timeline:
        png = timeseries_plots.pool_timeline_plot(view.timeline, view.pool_size, view.connections)
        return [_img(png, POOL_PLOT_ALT)]
    return []


def format_section_views_html(views: Iterable[SectionView]) -> str:
    """The given sections, each under its heading with its plots first."""
    parts = []
    for view in views:
        blocks = section_blocks(view)
        heads = [b for b in blocks[:1] if isinstance(b, Heading)]
        parts += [
            format_blocks_html(heads),
            *_figures(view),
            format_blocks_html(blocks[len(heads) :]),
        ]
    return "\n".join(p for p in parts if p)
