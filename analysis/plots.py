"""Figures for the comparison; each function takes ``load_results``' frame and returns a Figure.

Figures are built with ``matplotlib.figure.Figure`` directly, never pyplot: no
GUI backend is touched (headless by construction, same as the Agg backend),
no global figure registry fills up when a report draws many, and a user's
interactive backend is left alone. ``fig.savefig(...)`` renders with Agg.

Where a figure's input is absent (no per-bin reliability columns, no rho
columns), the figure still comes back, carrying a note that says what is
missing, so a report never breaks on a partial run.

Optional per-bin reliability columns: rows may carry, for bins i = 0..14 of
:func:`analysis.metrics.reliability_bins` on the test split, ``rel/count_i``
(samples), ``rel/conf_i`` (mean confidence) and ``rel/acc_i`` (accuracy).
:func:`reliability_figure` pools them over seeds at the final model's last epoch.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, MaxNLocator, NullFormatter

from .across_plots import anytime_ranks_figure as anytime_ranks_figure  # the figures across tasks
from .across_plots import cd_diagram as cd_diagram
from .contract import DEFAULT_COST, SWEEP_KEY, metric_bounds, total_column
from .figure_style import OTHER, color, note, place_labels
from .summary import (
    GROUP,
    REPLICATE,
    anytime_curves,
    eng,
    final_rows,
    pareto_front,
    summarize,
    sweep_summary,
)
from .summary.costs import AXIS_LABELS, check_axis
from .summary.sweep import NO_BUDGET

_REL = re.compile(r"^rel/(count|conf|acc)_(\d+)$")


def _title(exp: object, ds: object) -> str:
    return f"{exp}" + (f" · {ds}" if pd.notna(ds) else "")


def _scale(metric: str) -> float:
    """100 for a metric shown in percent (accuracy, ECE), 1 otherwise."""
    return 100.0 if metric.removesuffix("_ts").endswith(("_acc", "_ece")) else 1.0


def _cap(ax: Axes, metric: str) -> None:
    """Keep the y axis inside the metric's range (accuracy at most 100%, never below 0)."""
    try:
        lo_b, hi_b = (v * _scale(metric) for v in metric_bounds(metric))
    except ValueError:
        return
    lo, hi = ax.get_ylim()
    ax.set_ylim(max(lo, lo_b), min(hi, hi_b))


def anytime_figure(df: pd.DataFrame, metric: str = "test_acc", n_grid: int = 200, cost: str = DEFAULT_COST) -> Figure:
    """Validation-selected test accuracy against cumulative compute on the ``cost`` axis, per strategy.

    Each seed's curve (:func:`analysis.summary.anytime_curves`) is a step
    function; they are read on a common log-spaced grid of compute, and the line
    is their mean where every seed has started, the band their min-max range
    (with a handful of seeds a range is more honest than a t-band). x is log:
    strategies differ in cost by multiples. ``cost``: ``fwd`` (forward passes), ``flops``,
    ``device_seconds`` or ``wall`` (seconds since the strategy and seed began).
    """
    x_col = f"cum_{check_axis(cost)}"
    cur = anytime_curves(df, metric, cost)
    cur = cur[np.isfinite(cur[x_col].to_numpy(dtype=float))] if len(cur) else cur
    groups = list(cur.groupby(["experiment", "dataset"], observed=True, dropna=False, sort=True)) if len(cur) else []
    fig = Figure(figsize=(7.5, 4.2 * max(1, len(groups))), layout="constrained")
    if not groups:
        return note(fig, "anytime curves: no result rows" + ("" if cost == "fwd" else
                                                              f" with {AXIS_LABELS[cost]} recorded"))
    seen: dict[str, str] = {}
    for i, ((exp, ds), g) in enumerate(groups):
        ax = fig.add_subplot(len(groups), 1, i + 1)
        pos = g[x_col][g[x_col] > 0]
        if pos.empty:
            continue
        if not np.isfinite(g["value"].to_numpy(dtype=float)).any():  # e.g. test_acc of a regression run
            ax.text(0.5, 0.5, f"{_title(exp, ds)}: no {metric} observed", ha="center", va="center",
                    transform=ax.transAxes, color="#555")
            continue
        grid = np.geomspace(pos.min(), pos.max(), n_grid)
        for strat, gs in g.groupby("strategy", observed=True, sort=True):
            ys = []
            for _, gr in gs.groupby(REPLICATE, observed=True, sort=True):
                c, v = gr[x_col].to_numpy(float), gr["value"].to_numpy(float)
                # a row whose model was not observed (observe_every) has no value: the step
                # function holds the last observed one until the next observation
                seen_at = np.isfinite(v)
                c, v = c[seen_at], v[seen_at]
                k = np.searchsorted(c, grid, side="right") - 1
                # a seed never observed (every row NaN): no line for it, rather than an IndexError
                ys.append(np.where(k >= 0, v[np.clip(k, 0, None)], np.nan) if v.size else np.full(grid.shape, np.nan))
            y = np.vstack(ys) * _scale(metric)
            ok = ~np.isnan(y).any(axis=0)
            col = color(str(strat), seen)
            ax.plot(grid[ok], y[:, ok].mean(axis=0), color=col, lw=2, label=f"{strat} ({len(ys)} seeds)")
            with np.errstate(all="ignore"):
                ax.fill_between(grid[ok], np.nanmin(y[:, ok], axis=0), np.nanmax(y[:, ok], axis=0),
                                color=col, alpha=0.18, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel(f"cumulative {AXIS_LABELS[cost]} (all trials)" if cost != "wall"
                      else "wall-clock seconds since the start")
        ax.set_ylabel(f"{metric} of best-by-validation trial" + (" (%)" if _scale(metric) == 100 else ""))
        _cap(ax, metric)
        ax.set_title(f"Anytime quality · {_title(exp, ds)} (line: mean over seeds, band: range)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right", fontsize=9)
    return fig


def pareto_figure(df_or_summary: pd.DataFrame, cost: str = DEFAULT_COST) -> Figure:
    """Final test accuracy (mean, 95% CI over seeds) against total cost on the ``cost`` axis, log x.

    Accepts ``load_results``' frame or ``summarize``'s table. Points on the
    Pareto front (no other strategy is both cheaper and more accurate) are joined.
    ``cost``: ``fwd``, ``flops``, ``device_seconds`` or ``wall`` (wall seconds per seed).
    """
    check_axis(cost)
    s = df_or_summary if "test_acc_mean" in df_or_summary else summarize(df_or_summary, cost=cost)
    groups = list(s.groupby(["experiment", "dataset"], dropna=False, sort=True)) if len(s) else []
    fig = Figure(figsize=(9.5, 4.2 * max(1, len(groups))), layout="constrained")
    if not groups:
        return note(fig, "accuracy vs cost: no summary rows")
    seen: dict[str, str] = {}
    for i, ((exp, ds), g) in enumerate(groups):
        ax = fig.add_subplot(len(groups), 1, i + 1)
        if not pareto_axes(ax, g, cost, seen):
            note(fig, "accuracy vs cost: no final models with a known cost on this axis")
            continue
        ax.set_title(f"Accuracy vs cost · {_title(exp, ds)} (mean, 95% CI over seeds)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside: no point hidden
    return fig


def pareto_axes(ax: Axes, g: pd.DataFrame, cost: str, seen: dict[str, str], metric: str = "test_acc") -> bool:
    """One (experiment, dataset)'s rows of :func:`analysis.summarize`'s table on ``ax``: final test
    ``metric`` (mean, 95% CI over seeds; accuracy by default, test loss for a regression task)
    against total cost per seed on the ``cost`` axis (log x), each point labelled for a legend
    with its cost ratio to the reference, the Pareto front joined (in the metric's better
    direction); no title, no legend (the caller's). ``seen``: the colours of strategies outside
    :data:`COLORS`, shared by the axes of one figure. False, and nothing drawn, where no final
    model has a finite ``metric`` and a known cost on the axis."""
    col, mean = total_column(check_axis(cost)), f"{metric}_mean"
    if mean not in g:
        return False
    g = g[np.isfinite(g[mean]) & (g[col] > 0)]
    if g.empty:
        return False
    k = _scale(metric)
    for r in g.itertuples():
        y = getattr(r, mean) * k
        lo, hi = getattr(r, f"{metric}_ci_low"), getattr(r, f"{metric}_ci_high")
        err = [[y - lo * k], [hi * k - y]] if np.isfinite(lo) else None
        # names and cost ratios go in the legend: strategies often sit close in cost
        ref = g.loc[g["strategy"] == r.cost_reference, col] if pd.notna(r.cost_reference) else g[col].iloc[:0]
        ratio = getattr(r, col) / float(ref.iloc[0]) if len(ref) else np.nan
        label = str(r.strategy) + (f" (×{ratio:.2f} {r.cost_reference}'s cost)" if np.isfinite(ratio) else "")
        ax.errorbar(getattr(r, col), y, yerr=err, fmt="o", ms=8, color=color(str(r.strategy), seen),
                    capsize=4, label=label)
    pf = pareto_front(g, cost=cost, metric=metric)
    front = list(zip(pf[col], pf[mean] * k))
    if len(front) > 1:
        ax.plot(*zip(*front), ls="--", color="#888", lw=1, zorder=0, label="Pareto front")
    ax.set_xscale("log")
    # labels at 1, 2, 5 x 10^k only: in a suite's narrow panel minor labels ran into each other
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=5))
    ax.xaxis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.25, y=0.15)
    ax.set_xlabel(f"{AXIS_LABELS[cost]} per seed" + (" (all trials)" if cost != "wall" else ""))
    ax.set_ylabel("final test accuracy (%)" if metric == "test_acc"
                  else f"final {metric}" + (" (%)" if k == 100 else ""))
    _cap(ax, metric)
    ax.grid(alpha=0.3, which="both")
    return True


def reliability_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per-bin reliability of each strategy's final models, pooled over seeds.

    From the optional ``rel/count_i``, ``rel/conf_i``, ``rel/acc_i`` columns at
    the final model's last epoch: counts add up, means are count-weighted.
    Empty frame where the columns are absent.
    """
    cols = {(m.group(1), int(m.group(2))): c for c in df.columns if (m := _REL.match(c))}
    bins = sorted({i for (kind, i) in cols if kind == "count"})
    if not bins or not all(("conf", i) in cols and ("acc", i) in cols for i in bins):
        return pd.DataFrame(columns=[*GROUP, "bin", "count", "confidence", "accuracy"])
    fin = final_rows(df)
    out = []
    for key, g in fin.groupby(GROUP, observed=True, dropna=False, sort=True):
        for i in bins:
            n = g[cols[("count", i)]].to_numpy(float)
            n = np.where(np.isfinite(n), n, 0.0)
            tot = n.sum()
            conf = np.nansum(n * g[cols[("conf", i)]].to_numpy(float)) / tot if tot else np.nan
            acc = np.nansum(n * g[cols[("acc", i)]].to_numpy(float)) / tot if tot else np.nan
            out.append({**dict(zip(GROUP, key)), "bin": i, "count": tot, "confidence": conf, "accuracy": acc})
    return pd.DataFrame(out)


def reliability_figure(df: pd.DataFrame) -> Figure:
    """Reliability diagrams of the final models, one panel per strategy (pooled seeds).

    Bars: accuracy per confidence bin, each labelled at its foot with the samples it
    holds (seeds pooled; empty bins unlabelled); the diagonal is perfect calibration; the
    pooled ECE (mass-weighted |accuracy - confidence|) is in each title. Needs the
    optional ``rel/*`` columns; without them the figure carries a note instead.
    """
    t = reliability_table(df)
    if t.empty:
        fig = Figure(figsize=(7.5, 1.6), layout="constrained")
        return note(fig, "Reliability diagrams skipped: the results carry no per-bin columns "
                          "(rel/count_i, rel/conf_i, rel/acc_i).")
    panels = list(t.groupby(GROUP, dropna=False, sort=True))
    ncol = min(4, len(panels))
    nrow = -(-len(panels) // ncol)
    fig = Figure(figsize=(3.2 * ncol, 3.3 * nrow), layout="constrained")
    seen: dict[str, str] = {}
    n_bins = int(t["bin"].max()) + 1
    for k, ((_exp, _ds, strat), g) in enumerate(panels):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        w = 1.0 / n_bins
        left = g["bin"].to_numpy() * w
        acc = g["accuracy"].to_numpy(float)
        conf = g["confidence"].to_numpy(float)
        cnt = g["count"].to_numpy(float)
        col = color(str(strat), seen)
        bars = ax.bar(left, np.nan_to_num(acc), width=w, align="edge", color=col, alpha=0.75, edgecolor="white")
        # counts at the foot of each bar, inside the axes whatever the bar's height
        for rect, n in zip(bars, cnt):
            if n > 0:
                ax.annotate(eng(n), (rect.get_x() + rect.get_width() / 2, 0.0), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", rotation=90, fontsize=6,
                            color="#222")
        ax.plot([0, 1], [0, 1], ls="--", color="#444", lw=1)
        ax.plot(conf, acc, "k.", ms=4)
        mass = cnt / cnt.sum() if cnt.sum() else cnt
        ece = float(np.nansum(mass * np.abs(acc - conf)))
        ax.set_title(f"{strat} · ECE {100 * ece:.1f}%", fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        if k % ncol == 0:
            ax.set_ylabel("accuracy")
    fig.suptitle("Reliability of the final models (test split, seeds pooled)", fontsize=11)
    return fig


def _schedule(rows: pd.DataFrame, rho_cols: list[str]) -> pd.DataFrame:
    """rho per epoch; after a PBT restore the later row of a repeated epoch wins."""
    return rows.groupby("epoch", sort=True)[rho_cols].last()


def rho_figure(df: pd.DataFrame, learned: str = "cross_reg", scheduled: str = "pbt") -> Figure:
    """Learned rho against epoch: cross-reg's ``rho/*`` next to PBT's final trial's schedule.

    One line per rho name and seed; each panel has its own y axis (a learned 0.1 next
    to a searched 2.2 would otherwise read flat) and whole-epoch ticks. PBT's panel shows what its final trial
    reported at each epoch (a later row of a repeated epoch, written after a
    restore, wins); before its last exploit the trial's lineage ran the donor's
    values, which its own rows do not record.
    """
    rho_cols = sorted(c for c in df.columns if c.startswith("rho/"))
    fig = Figure(figsize=(11, 4.0), layout="constrained")
    if not rho_cols:
        return note(fig, "Rho trajectories skipped: the results carry no rho/* columns.")
    axes = fig.subplots(1, 2, sharey=False)
    cmap = {c: OTHER[i % len(OTHER)] for i, c in enumerate(rho_cols)}  # not the strategies' colours
    styles = ["-", "--", ":", "-."]
    for ax, strat, what in ((axes[0], learned, "learned (all epochs)"),
                            (axes[1], scheduled, "schedule of the final trial")):
        rows = df[(df["strategy"].astype(str) == strat) & df["final_trial"]]
        cols = [c for c in rho_cols if rows[c].notna().any()] if len(rows) else []
        if not cols:
            ax.text(0.5, 0.5, f"no {strat} rho values", ha="center", va="center", transform=ax.transAxes,
                    color="#555")
        for j, (_, g) in enumerate(rows.groupby(REPLICATE, observed=True, sort=True)):
            sched = _schedule(g, cols)
            for c in cols:
                ax.plot(sched.index, sched[c], color=cmap[c], ls=styles[j % len(styles)], lw=1.5, alpha=0.85,
                        label=f"{c[4:]}" if j == 0 else None)
        ax.set_title(f"{strat}: rho {what}" + ("" if not len(rows) else
                                               f" · {rows.groupby(REPLICATE, observed=True).ngroups} seeds "
                                               f"(line style)"), fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("rho value")
        ax.grid(alpha=0.3)
        if cols:
            ax.legend(fontsize=8, title="rho", title_fontsize=8)
    return fig


def _budget_labels(budgets: pd.Series) -> list[str]:
    """A point's label: its budget; the spec's own budget is "default" beside other budgets of
    its method, and unlabelled where it is the method's only point (the legend names it)."""
    texts = budgets.astype(str).tolist()
    if texts == [NO_BUDGET]:
        return [""]
    return ["default" if t == NO_BUDGET else t for t in texts]


def sweep_figure(df_or_summary: pd.DataFrame, cost: str = DEFAULT_COST, metric: str = "test_acc") -> Figure:
    """A budget sweep: each method's curve of final ``metric`` against cost, Pareto front marked.

    Accepts ``load_results``' frame or :func:`analysis.summary.sweep_summary`'s table. One
    point per variant at its mean cost per seed on the ``cost`` axis (log x) and its mean
    ``metric`` with the 95% interval over seeds as a bar, labelled with its budget; a
    method's variants joined in cost order; the Pareto front over every variant
    (:func:`analysis.summary.pareto_front`) ringed and joined by a dashed line; the
    reference variant starred.
    """
    col = total_column(check_axis(cost))
    s = df_or_summary if "method" in df_or_summary else sweep_summary(df_or_summary, cost=cost, metric=metric)
    groups = list(s.groupby(["experiment", "dataset"], dropna=False, sort=True)) if len(s) else []
    fig = Figure(figsize=(10.5, 4.8 * max(1, len(groups))), layout="constrained")
    if not groups:
        return note(fig, "budget sweep: no summary rows")
    k = _scale(metric)
    q, lo, hi = (f"{metric}_{x}" for x in ("mean", "ci_low", "ci_high"))
    seen: dict[str, str] = {}
    pending: list[tuple[Axes, list[tuple[float, float, str]]]] = []
    for i, ((exp, ds), g) in enumerate(groups):
        ax = fig.add_subplot(len(groups), 1, i + 1)
        g = g[np.isfinite(g[q].to_numpy(dtype=float)) & (g[col].to_numpy(dtype=float) > 0)]
        if g.empty:
            ax.text(0.5, 0.5, "no variant with a final model and a known cost on this axis", ha="center",
                    transform=ax.transAxes, color="#555")
            continue
        labels: list[tuple[float, float, str]] = []
        for method, gm in g.sort_values(col).groupby("method", sort=True):
            x, y = gm[col].to_numpy(dtype=float), gm[q].to_numpy(dtype=float) * k
            err = np.nan_to_num(np.vstack([y - gm[lo].to_numpy(dtype=float) * k, gm[hi].to_numpy(dtype=float) * k - y]))
            ax.errorbar(x, y, yerr=err, fmt="o-", ms=6, lw=1.5, capsize=3, color=color(str(method), seen),
                        label=f"{method} ({len(gm)} budget{'s' if len(gm) != 1 else ''})")
            labels += [(a, b, text) for a, b, text in zip(x, y, _budget_labels(gm["budget"]))
                       if text]
        front = pareto_front(g, cost=cost, metric=metric)
        ax.plot(front[col], front[q] * k, ls="--", color="#222", lw=1, zorder=0, label="Pareto front")
        ax.scatter(front[col], front[q] * k, s=190, facecolors="none", edgecolors="#222", lw=1.2, zorder=3)
        ref = g[g["is_reference"].astype(bool)] if "is_reference" in g else g.iloc[:0]
        if len(ref):
            ax.scatter(ref[col], ref[q] * k, marker="*", s=260, color="#ffd400", edgecolors="#222", zorder=4,
                       label=f"reference ({', '.join(ref['strategy'].astype(str))})")
        ax.set_xscale("log")
        ax.margins(x=0.12, y=0.12)
        ax.set_xlabel(f"{AXIS_LABELS[cost]} per seed" + (" (all trials)" if cost != "wall" else ""))
        ax.set_ylabel(f"final {metric}" + (" (%)" if k == 100 else ""))
        _cap(ax, metric)
        ax.set_title(f"Budget sweep · {_title(exp, ds)} (mean, 95% CI over seeds)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside: no point hidden
        pending.append((ax, labels))
    for ax, labels in pending:  # once every panel is in: the layout they are measured in
        place_labels(ax, labels)  # the budgets, where no two overlap
    return fig


def is_sweep(df: pd.DataFrame) -> bool:
    """Whether any run in ``df`` is a budget sweep (its metadata.json has ``sweep``)."""
    return any(isinstance((m or {}).get(SWEEP_KEY), dict) for m in (df.attrs.get("metadata") or {}).values())


def all_figures(df: pd.DataFrame, cost: str = DEFAULT_COST) -> dict[str, Figure]:
    """The report's figures by title, in order; the budget sweep's first for a sweep. ``cost``:
    the x axis of the anytime, cost and sweep figures (``fwd``, ``flops``, ``device_seconds``, ``wall``)."""
    sweep = {"Budget sweep": sweep_figure(df, cost=cost)} if is_sweep(df) else {}
    return {
        **sweep,
        "Anytime quality": anytime_figure(df, cost=cost),
        "Accuracy vs cost": pareto_figure(df, cost=cost),
        "Reliability diagrams": reliability_figure(df),
        "Rho trajectories": rho_figure(df),
    }
