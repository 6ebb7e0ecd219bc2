"""Charts as PNG bytes, drawn with matplotlib's Agg canvas and no pyplot.

pyplot keeps global state and picks a GUI backend; a `Figure` on an explicit
`FigureCanvasAgg` has neither, so it is safe to draw in a worker thread
(`asyncio.to_thread`), off the event loop. Callers pass already translated text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

# matplotlib costs about half a second to import: only the first chart pays it.


def _plain(text: str) -> str:
    """A `$` would switch matplotlib into maths mode; ward names are text."""
    return text.replace("$", r"\$")


def stacked_bars_png(
    periods: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
) -> bytes:
    """One bar per period, stacked by series (e.g. concerns per week by category).

    CPU-bound: call through `asyncio.to_thread` from async code.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(8, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(periods)))
    bottoms = [0] * len(periods)
    colours = _palette(len(series))
    for (name, counts), colour in zip(series, colours, strict=True):
        axes.bar(positions, counts, bottom=bottoms, label=_plain(name), color=colour, width=0.7)
        bottoms = [b + c for b, c in zip(bottoms, counts, strict=True)]
    axes.set_xticks(positions, [_plain(p) for p in periods], rotation=45, ha="right")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max([*bottoms, 1]) * 1.1)
    axes.set_xlabel(_plain(x_label))
    axes.set_ylabel(_plain(y_label))
    axes.set_title(_plain(title))
    axes.spines[["top", "right"]].set_visible(False)
    if series:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _palette(count: int) -> list[tuple[float, ...]]:
    """Distinct colours: matplotlib's tab10, or tab20 for more series."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [tuple(cmap(i % cmap.N)) for i in range(count)]


def vote_results_png(
    titles: Sequence[str],
    counts: Sequence[int],
    winners: Sequence[bool],
    *,
    title: str,
    x_label: str,
    legend_won: str,
    legend_other: str,
) -> bytes:
    """One horizontal bar per agenda item, most votes at the top, winners in colour.

    CPU-bound: call through `asyncio.to_thread` from async code.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    height = 1.2 + 0.45 * max(len(titles), 2)
    figure = Figure(figsize=(8, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    won, other = "#1b7f3b", "#9aa5b1"  # green for the agenda, grey for the rest
    positions = list(range(len(titles)))[::-1]  # the first item at the top
    colours = [won if w else other for w in winners]
    bars = axes.barh(positions, counts, color=colours, height=0.6)
    axes.bar_label(bars, labels=[str(c) for c in counts], padding=3)
    axes.set_yticks(positions, [_plain(text) for text in titles])
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0, max([*counts, 1]) * 1.15)
    axes.set_xlabel(_plain(x_label))
    axes.set_title(_plain(title))
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(
        handles=[
            Patch(color=won, label=_plain(legend_won)),
            Patch(color=other, label=_plain(legend_other)),
        ],
        loc="lower right",
        frameon=False,
        fontsize=8,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
