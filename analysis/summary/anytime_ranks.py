"""Anytime ranks: who is ahead at equal compute, across the tasks of a suite.

A final table compares methods that spent very different budgets. Here each strategy is read
off its anytime curve (:func:`analysis.summary.anytime_curves`: the test ``metric`` of the
best-by-validation model in hand after each row, against cumulative cost) at the same budget
as the others, and ranked; so "cross-reg ranks first until 2x its cost, third after 8x" is
one line of the result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..contract import DEFAULT_COST, metric_mode
from .across import REFERENCE
from .costs import check_axis
from .curves import anytime_curves

#: Budgets as multiples of the reference's total cost on the same (task, seed).
REFERENCE_FRACTIONS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
#: Budgets as fractions of each strategy's own total cost.
OWN_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
RELATIVE_TO = ("reference", "own")


def _value_at(c: np.ndarray, v: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """The curve's value at each budget: that of its last observed row (finite value) whose
    cumulative cost is within the budget; NaN before its first observation."""
    seen = np.isfinite(v) & np.isfinite(c)
    c, v = c[seen], v[seen]
    k = np.searchsorted(c, budgets * (1 + 1e-12), side="right") - 1
    return np.where((k >= 0) & np.isfinite(budgets), v[np.clip(k, 0, None)] if v.size else np.nan, np.nan)


def anytime_ranks(df: pd.DataFrame, metric: str = "test_acc", cost: str = DEFAULT_COST,
                  fractions: Sequence[float] | None = None, *, relative_to: str = "reference",
                  reference: str = REFERENCE, strategies: Sequence[str] | None = None) -> pd.DataFrame:
    """Each strategy's rank at equal budgets, averaged over seeds within a task, then over tasks.

    ``df``: :func:`analysis.load_results`' frame (its curves are computed here on the ``cost``
    axis), or :func:`analysis.summary.anytime_curves`' output for it. Per (task, run, seed) block
    where every compared strategy has a curve, the budget is ``fraction`` x:

    * ``relative_to="reference"`` (default): the total cost of ``reference``'s run of that block
      (``fractions`` default :data:`REFERENCE_FRACTIONS`, 1/8x to 64x): equal budgets for all,
      the issue's "ranks at equal budget";
    * ``relative_to="own"``: each strategy's own total (default :data:`OWN_FRACTIONS`): where
      each stands at the same share of its own run, not at equal cost.

    A strategy's value at a budget is its curve's at the last observed row within it (rows not
    observed, ``observe_every``, are NaN on the curve: missing, so the last observation holds);
    past its own total it keeps its final model (it is done). A strategy with no observation
    within the budget has no model yet: it ranks last in the block (with any others in that
    state, ties averaged), and ``missing`` counts how often. Blocks where the reference's cost is
    unknown on the axis are left out. Ranks: 1 = best in the metric's direction.

    Long format: ``strategy``, ``fraction``, ``mean_rank``, ``missing`` (share of its blocks
    with no model yet), ``tasks``, ``blocks``; ``attrs``: ``relative_to``, ``reference``,
    ``cost``, ``metric``.
    """
    if relative_to not in RELATIVE_TO:
        raise ValueError(f"relative_to must be one of {', '.join(RELATIVE_TO)}, got {relative_to!r}")
    x_col = f"cum_{check_axis(cost)}"
    sign = 1.0 if metric_mode(metric) == "max" else -1.0
    cur = df if {x_col, "value"} <= set(df.columns) else anytime_curves(df, metric, cost)
    task = cur["task"] if "task" in cur else cur["experiment"]
    cur = cur.assign(task=task.astype(str), strategy=cur["strategy"].astype(str),
                     run=cur["run"].astype(str) if "run" in cur else "run")
    names = list(dict.fromkeys(cur["strategy"])) if strategies is None else list(strategies)
    if relative_to == "reference" and reference not in names:
        raise ValueError(f"no {reference!r} among the strategies: no reference budget (use relative_to='own')")
    fr = np.asarray(fractions if fractions is not None else
                    (REFERENCE_FRACTIONS if relative_to == "reference" else OWN_FRACTIONS), dtype=float)
    per_block = []  # (task, ranks k x F, missing k x F)
    for (t, _run, _seed), g in cur[cur["strategy"].isin(names)].groupby(["task", "run", "seed"], sort=True):
        curves = {s: (gs[x_col].to_numpy(dtype=float), gs["value"].to_numpy(dtype=float))
                  for s, gs in g.groupby("strategy", sort=False)}
        if any(s not in curves for s in names):
            continue
        totals = {s: c[-1] if c.size else np.nan for s, (c, _) in curves.items()}
        if relative_to == "reference" and not np.isfinite(totals[reference]):
            continue
        vals = np.vstack([_value_at(*curves[s], fr * (totals[reference] if relative_to == "reference"
                                                     else totals[s])) for s in names])
        oriented = np.where(np.isfinite(vals), sign * vals, -np.inf)
        per_block.append((t, stats.rankdata(-oriented, method="average", axis=0), ~np.isfinite(vals)))
    if not per_block:
        raise ValueError("no (task, seed) where every strategy has an anytime curve"
                         + (f" and {reference}'s cost is known on the {cost!r} axis" if relative_to == "reference"
                            else ""))
    tasks = list(dict.fromkeys(t for t, _, _ in per_block))
    rank_by_task = [np.mean([r for tt, r, _ in per_block if tt == t], axis=0) for t in tasks]
    mean_rank = np.mean(rank_by_task, axis=0)
    missing = np.mean([m for _, _, m in per_block], axis=0)
    out = pd.DataFrame([{"strategy": s, "fraction": float(f), "mean_rank": float(mean_rank[i, j]),
                         "missing": float(missing[i, j]), "tasks": len(tasks), "blocks": len(per_block)}
                        for i, s in enumerate(names) for j, f in enumerate(fr)])
    out.attrs.update({"relative_to": relative_to, "reference": reference, "cost": cost, "metric": metric})
    return out


__all__ = ["OWN_FRACTIONS", "REFERENCE_FRACTIONS", "RELATIVE_TO", "anytime_ranks"]
