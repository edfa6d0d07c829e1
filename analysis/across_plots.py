"""Figures across the tasks of a suite: the critical-difference diagram and anytime ranks.

Built like :mod:`analysis.plots` (``matplotlib.figure.Figure``, never pyplot), which re-exports
both; a module of its own to keep each under the package's size limit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .contract import DEFAULT_COST
from .figure_style import color, note
from .summary.costs import AXIS_LABELS


def cd_groups(ranks: dict[str, float], cd: float) -> list[tuple[str, ...]]:
    """The maximal groups of strategies whose mean ranks lie within ``cd`` of each other (the
    Nemenyi test cannot tell them apart): for each strategy in rank order, it and every later one
    less than ``cd`` above it; groups contained in another and single strategies left out."""
    order = sorted(ranks, key=lambda s: ranks[s])
    if not np.isfinite(cd):
        return []
    spans: list[tuple[int, int]] = []
    for i, s in enumerate(order):
        j = i
        while j + 1 < len(order) and ranks[order[j + 1]] - ranks[s] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in spans):
            spans.append((i, j))
    return [tuple(order[a:b + 1]) for a, b in spans]


def cd_diagram(table: pd.DataFrame, rank: str = "task_rank") -> Figure:
    """Critical-difference diagram (Demšar 2006) of :func:`analysis.across_tasks`' table.

    Strategies sit on a mean-rank axis (1, the best, on the left; ``rank``: ``task_rank`` by
    default, the ranks the Friedman test and the Nemenyi critical difference ``attrs["nemenyi_cd"]``
    are about); the better half is labelled on the left, the rest on the right, each label on a
    row of its own (as autorank and Orange draw it), so no two labels can overlap. A thick bar
    joins each group of strategies whose ranks differ by less than the CD (not significantly
    different); the CD's length is drawn above the axis. The title gives the Friedman p-value and
    the number of tasks: with few tasks the CD is wide, and the diagram says so by its bars.
    """
    a = table.attrs
    ranks = {str(s): float(r) for s, r in zip(table["strategy"], table[rank]) if np.isfinite(r)}
    k = len(ranks)
    cd = float(a.get("nemenyi_cd", np.nan))
    fig = Figure(figsize=(9.0, 1.9 + 0.32 * (k + 1) // 2 + 0.22 * max(0, len(cd_groups(ranks, cd)))),
                 layout="constrained")
    if k < 2:
        return note(fig, "critical-difference diagram: fewer than two ranked strategies")
    ax = fig.add_subplot(1, 1, 1)
    order = sorted(ranks, key=lambda s: ranks[s])
    lo, hi = 1.0, float(max(k, math.ceil(max(ranks.values()))))
    ax.set_xlim(lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo))
    ax.hlines(0, lo, hi, color="k", lw=1)
    for t in range(int(lo), int(hi) + 1):
        ax.vlines(t, 0, 0.12, color="k", lw=1)
        ax.text(t, 0.18, str(t), ha="center", va="bottom", fontsize=9)
    if np.isfinite(cd):
        ax.hlines(0.75, lo, lo + cd, color="k", lw=1.5)
        ax.vlines([lo, lo + cd], 0.68, 0.82, color="k", lw=1.5)
        ax.text(lo + cd / 2, 0.88, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
    seen: dict[str, str] = {}
    left = order[: (k + 1) // 2]
    right = order[(k + 1) // 2:]
    step = 0.42
    groups = cd_groups(ranks, cd)
    base = -0.35 - step * (len(groups) + 1)  # labels start below the group bars
    for i, s in enumerate(left):
        y = base - step * i
        ax.plot([ranks[s], ranks[s], lo - 0.02 * (hi - lo)], [0, y, y], color=color(s, seen), lw=1.2)
        ax.text(lo - 0.035 * (hi - lo), y, f"{s} ({ranks[s]:.2f})", ha="right", va="center", fontsize=9)
    for i, s in enumerate(reversed(right)):
        y = base - step * i
        ax.plot([ranks[s], ranks[s], hi + 0.02 * (hi - lo)], [0, y, y], color=color(s, seen), lw=1.2)
        ax.text(hi + 0.035 * (hi - lo), y, f"{s} ({ranks[s]:.2f})", ha="left", va="center", fontsize=9)
    for j, grp in enumerate(groups):
        y = -0.3 - step * j
        ax.hlines(y, ranks[grp[0]] - 0.03, ranks[grp[-1]] + 0.03, color="#222", lw=4)
    ax.set_ylim(base - step * max(len(left), len(right)), 1.3)
    ax.axis("off")
    p = a.get("friedman_p", np.nan)
    ptxt = f"Friedman p = {p:.3g}" if isinstance(p, float) and np.isfinite(p) else "no Friedman test"
    ax.set_title(f"Mean {rank.replace('_', ' ')} over {a.get('n_tasks', '?')} tasks (1 = best; {ptxt}; "
                 f"bars: not significantly different, Nemenyi at {a.get('alpha', 0.05)})", fontsize=10)
    return fig


def anytime_ranks_figure(ranks: pd.DataFrame) -> Figure:
    """:func:`analysis.anytime_ranks`' table: each strategy's mean rank (1 = best, at the top)
    against the budget, log x: multiples of the reference's total cost (equal budgets for all),
    or fractions of each strategy's own total. A point where a strategy often had no model yet
    (``missing`` over a quarter of its blocks) is drawn hollow: its rank says "not started"."""
    fig = Figure(figsize=(8.5, 4.6), layout="constrained")
    if ranks.empty:
        return note(fig, "anytime ranks: no blocks")
    a = ranks.attrs
    ax = fig.add_subplot(1, 1, 1)
    seen: dict[str, str] = {}
    for s, g in ranks.groupby("strategy", sort=False):
        g = g.sort_values("fraction")
        col = color(str(s), seen)
        x, y = g["fraction"].to_numpy(float), g["mean_rank"].to_numpy(float)
        ax.plot(x, y, "-", color=col, lw=2, label=str(s))
        started = g["missing"].to_numpy(float) <= 0.25
        ax.plot(x[started], y[started], "o", color=col, ms=5)
        ax.plot(x[~started], y[~started], "o", mfc="white", color=col, ms=5)
    k = ranks["strategy"].nunique()
    ax.set_ylim(k + 0.3, 0.7)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xscale("log", base=2)
    cost = AXIS_LABELS.get(str(a.get("cost", DEFAULT_COST)), str(a.get("cost")))
    if a.get("relative_to", "reference") == "reference":
        ax.set_xlabel(f"budget, in multiples of {a.get('reference', 'cross_reg')}'s total ({cost})")
        ax.axvline(1.0, color="#888", ls=":", lw=1)
    else:
        ax.set_xlabel(f"fraction of each strategy's own total ({cost})")
    ax.set_ylabel(f"mean rank by {a.get('metric', 'test_acc')} (1 = best)")
    ax.set_title(f"Ranks at equal budget · {int(ranks['tasks'].iloc[0])} tasks, {int(ranks['blocks'].iloc[0])} "
                 f"task x seed blocks (hollow: no model yet in over 1/4 of them)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig
