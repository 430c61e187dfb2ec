"""The dataset card's PNG plots, drawn from the DatasetStats frames (matplotlib, Agg).

Imported only where plots are drawn (kgsynth.export.plots: in the build's process, or in
the plot worker that imports it while an ad-hoc build runs): matplotlib costs ~0.6 s.

Figures are built with matplotlib's object API (Figure + its Agg canvas), never pyplot, so
there is no global figure state and no GUI backend: flows may run tasks in threads. Every
plot is drawn even with nothing to show, with a note saying so, so the card's image links
always resolve.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kgsynth.export.stats import DatasetStats

TOP = 15  # bars in the relation and reject plots
DPI = 110
_BLUE, _ORANGE, _GREEN, _RED = "#4C72B0", "#DD8452", "#55A868", "#C44E52"


def _figure(n_bars: int = 0, width: float = 7.0) -> tuple[Figure, Axes]:
    # horizontal bar charts grow with their bars so labels never overlap
    fig = Figure(figsize=(width, max(3.2, 1.2 + 0.32 * n_bars)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _label_bars(ax: Axes, values: list[int], horizontal: bool, fmt: str = "{:,}") -> None:
    bars = ax.containers[-1]
    ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=2, fontsize=8)
    if horizontal:
        ax.set_xlim(0, max(values) * 1.15 if values and max(values) > 0 else 1)
    else:
        ax.set_ylim(0, max(values) * 1.12 if values and max(values) > 0 else 1)


def path_lengths_figure(counts: pl.DataFrame) -> Figure:
    """Paths by number of hops (one bar per hop count, none skipped between)."""
    fig, ax = _figure()
    n_paths = int(counts["paths"].sum()) if counts.height else 0
    ax.set_title(f"KG path length ({n_paths:,} paths in exported rows)")
    if counts.is_empty():
        _note(ax, "no paths: no exported rows")
    else:
        hops = counts["hops"].to_list()
        by_hop = dict(zip(hops, counts["paths"].to_list(), strict=True))
        xs = list(range(min(hops), max(hops) + 1))
        ys = [by_hop.get(x, 0) for x in xs]
        ax.bar(xs, ys, color=_BLUE, width=0.7)
        _label_bars(ax, ys, horizontal=False)
        ax.set_xticks(xs)
        ax.set_xlabel("hops per path")
        ax.set_ylabel("paths")
    return fig


def entity_types_figure(types: pl.DataFrame) -> Figure:
    """Linked entities by type, question and answer side by side."""
    fig, ax = _figure(2 * types.height)
    ax.set_title("Linked entity types (exported rows)")
    if types.is_empty():
        _note(ax, "no linked entities: no exported rows")
    else:
        names = types["type"].to_list()[::-1]  # commonest at the top
        q = types["question"].to_list()[::-1]
        a = types["answer"].to_list()[::-1]
        ys = list(range(len(names)))
        ax.barh([y + 0.2 for y in ys], q, height=0.4, color=_BLUE, label="question entities")
        _label_bars(ax, q, horizontal=True)
        ax.barh([y - 0.2 for y in ys], a, height=0.4, color=_ORANGE, label="answer entities")
        _label_bars(ax, a, horizontal=True)
        ax.set_xlim(0, max(q + a) * 1.18 if max(q + a) > 0 else 1)
        ax.set_yticks(ys, names)
        ax.set_xlabel("entity links")
        fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return fig


def _ranked_figure(
    frame: pl.DataFrame,
    top: int,
    counts: str,
    labels: list[str],
    title: str,
    empty: str,
    color: str,
    more: str = "",
) -> Figure:
    """The first `top` rows of a frame ranked by `counts`, one bar each; the title says the
    total over all rows (`{total}`) and how many were left out (`{rest}`)."""
    fig, ax = _figure(min(frame.height, top))
    total = int(frame[counts].sum()) if frame.height else 0
    rest = f", top {top} of {frame.height}{more}" if frame.height > top else ""
    ax.set_title(title.format(total=f"{total:,}", rest=rest))
    if frame.is_empty():
        _note(ax, empty)
    else:
        _ranked_bars(ax, labels[:top], frame[counts].head(top).to_list(), color, counts)
    return fig


def relations_figure(rels: pl.DataFrame, top: int = TOP) -> Figure:
    """The commonest relations over every hop of every path."""
    return _ranked_figure(
        rels,
        top,
        "hops",
        rels["relation"].to_list() if rels.height else [],
        "Relations on KG paths ({total} hops{rest})",
        "no hops: no exported rows",
        _GREEN,
    )


def checks_figure(checks: pl.DataFrame) -> Figure:
    """Pass rate per check over the rows that reached it (exported + rejected there): the
    passed share in green, the failed share in red, labelled passed / judged."""
    fig, ax = _figure(checks.height)
    ax.set_title(
        "Pass rate by check\n(rows that reached it: exported + rejected at its stage)",
        fontsize=10,
    )
    if checks.is_empty():
        _note(ax, "no check ran: nothing reached verification")
    else:
        rows = checks.reverse()  # first check at the top
        names = rows["check"].to_list()
        judged = rows["judged"].to_list()
        passed = rows["passed"].to_list()
        ok = [100 * p / j if j else 0.0 for p, j in zip(passed, judged, strict=True)]
        bad = [100 - v if j else 0.0 for v, j in zip(ok, judged, strict=True)]
        ax.barh(names, ok, color=_GREEN, label="passed")
        ax.barh(names, bad, left=ok, color=_RED, label="failed")
        labels = [f"{p:,}/{j:,}" for p, j in zip(passed, judged, strict=True)]
        ax.bar_label(ax.containers[-1], labels=labels, padding=3, fontsize=8)
        ax.set_xlim(0, 120)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("% of the rows the check judged")
        fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return fig


def rejects_figure(rejects: pl.DataFrame, top: int = TOP) -> Figure:
    """Rejected rows by stage and reason, most first."""
    labels = [f"{s} / {r}" for s, r in rejects.select("stage", "reason").iter_rows()]
    return _ranked_figure(
        rejects,
        top,
        "rows",
        labels,
        "Rejected rows by stage / reason ({total} rows{rest})",
        "no rejected rows",
        _RED,
        more=" reasons",
    )


def _ranked_bars(ax: Axes, labels: list[str], vals: list[int], color: str, unit: str) -> None:
    """Horizontal bars, the first (largest) at the top, each labelled with its value."""
    ax.barh(labels[::-1], vals[::-1], color=color)
    _label_bars(ax, vals[::-1], horizontal=True)
    ax.set_xlabel(unit)


# file stem -> figure from the stats (their alt texts: kgsynth.export.plots.PLOTS)
FIGURES = {
    "path_lengths": lambda s: path_lengths_figure(s.path_lengths),
    "entity_types": lambda s: entity_types_figure(s.entity_types),
    "relations": lambda s: relations_figure(s.relations),
    "check_pass_rates": lambda s: checks_figure(s.checks),
    "rejects": lambda s: rejects_figure(s.rejects),
}


def draw_plots(folder: Path, stats: DatasetStats) -> dict[str, Path]:
    """Every plot as folder/<name>.png; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, draw in FIGURES.items():
        path = folder / f"{name}.png"
        # no Software/date metadata: the same stats give the same bytes
        draw(stats).savefig(path, format="png", metadata={"Software": None})
        out[name] = path
    return out
