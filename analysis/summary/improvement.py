"""Probability of improvement and performance profiles across tasks (the rliable protocol).

A mean rank says who is ahead, not by how often; these two say it per run. Both read the
final models of :func:`analysis.summary.across.final_values` and count a failed model (a
non-finite ``metric``, or diverged) as worse than any result, never as a missing one: a
strategy that fails often must not look better for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..contract import metric_mode
from .across import BASELINE, blocks, final_values, normalised_scores
from .statistics import MIN_BOOTSTRAP


def _better(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean over the last two axes of S(x_i, y_j): 1 where x_i > y_j, 1/2 where equal, 0 below."""
    with np.errstate(invalid="ignore"):
        d = x[..., :, None] - y[..., None, :]
    eq = x[..., :, None] == y[..., None, :]  # -inf == -inf: two failures tie (their difference is NaN)
    s = np.where(eq, 0.5, (d > 0).astype(float))
    return s.mean(axis=(-2, -1))


def probability_of_improvement(df: pd.DataFrame, a: str, b: str, metric: str = "test_acc", *,
                               confidence_level: float = 0.95, n_resamples: int = 2000,
                               rng: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """P(A > B): the probability that a run of ``a`` beats a run of ``b`` on a task, averaged over
    tasks (Agarwal et al. 2021): on each task where both have final models, the Mann-Whitney
    statistic over every pair of their seeds (1 for a better ``metric`` in its direction, 1/2 for
    a tie; a failed model is worse than any result, two failures tie), then the mean over those
    tasks, each weighing the same. 1 when ``a`` beats ``b`` on every pair, 1/2 when they are
    indistinguishable (identical scores), 0 when ``b`` always wins.

    Seeds are not paired (the statistic compares every run of one with every run of the other).
    The interval is the stratified bootstrap's percentile interval (each strategy's seeds
    resampled with replacement within each task, independently; ``rng`` seeds a numpy
    Generator); withheld (NaN) with fewer than :data:`~analysis.summary.MIN_BOOTSTRAP` seeds of
    the scarcer strategy summed over tasks, or no task with two seeds of either. It speaks for
    these tasks only.

    One row: ``a``, ``b``, ``metric``, ``tasks``, ``probability``, ``ci_low``, ``ci_high``.
    """
    sign = 1.0 if metric_mode(metric) == "max" else -1.0
    fin = final_values(df, metric)
    oriented = np.where(fin["failed"], -np.inf, sign * fin["value"].to_numpy(dtype=float))
    fin = fin.assign(o=oriented)
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for _, g in fin.groupby("task", sort=True):
        x = g.loc[g["strategy"] == a, "o"].to_numpy(dtype=float)
        y = g.loc[g["strategy"] == b, "o"].to_numpy(dtype=float)
        if x.size and y.size:
            pairs.append((x, y))
    if not pairs:
        raise ValueError(f"no task has final models of both {a!r} and {b!r}")
    point = float(np.mean([_better(x, y) for x, y in pairs]))
    lo = hi = math.nan
    enough = sum(min(x.size, y.size) for x, y in pairs) >= MIN_BOOTSTRAP
    if enough and any(max(x.size, y.size) >= 2 for x, y in pairs):
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        boot = np.zeros(n_resamples)
        for x, y in pairs:
            xb = x[gen.integers(0, x.size, size=(n_resamples, x.size))]
            yb = y[gen.integers(0, y.size, size=(n_resamples, y.size))]
            boot += _better(xb, yb)
        boot /= len(pairs)
        tail = (1.0 - confidence_level) / 2.0
        lo, hi = (float(v) for v in np.quantile(boot, [tail, 1.0 - tail]))
    return pd.DataFrame([{"a": a, "b": b, "metric": metric, "tasks": len(pairs), "probability": point,
                          "ci_low": lo, "ci_high": hi}])


def performance_profile(df: pd.DataFrame, metric: str = "test_acc", taus: Sequence[float] | None = None, *,
                        strategies: Sequence[str] | None = None, baseline: str = BASELINE) -> pd.DataFrame:
    """The score distribution of each strategy: at each threshold tau, the fraction of its runs
    whose normalised score (:func:`analysis.summary.across.normalised_scores`: 0 = ``baseline``'s
    per-task mean, 1 = the best strategy's, over the same complete (task, seed) blocks as
    :func:`analysis.across_tasks`) is at least tau; the fraction is taken within each task and
    averaged over tasks (each task weighs the same). A failed run is below every tau; a task
    without a score scale (every strategy's mean equal) is left out.

    ``taus`` default: 101 points from min(0, lowest score) to max(1, highest score). Long format:
    ``strategy``, ``tau``, ``fraction`` (non-increasing in tau), ``tasks``.
    """
    b = blocks(final_values(df, metric), metric, strategies)
    scores, how = normalised_scores(b, baseline)
    tasks = [t for t in b.tasks if how[t] != "none"]
    s = scores.where(~b.failed, -np.inf)
    finite = s.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if taus is None:
        lo = min(0.0, float(finite.min())) if finite.size else 0.0
        hi = max(1.0, float(finite.max())) if finite.size else 1.0
        grid = np.linspace(lo, hi, 101)
    else:
        grid = np.asarray(list(taus), dtype=float)
    rows = []
    for name in b.strategies:
        per_task = [s[name].xs(t, level="task").to_numpy(dtype=float) for t in tasks]
        frac = (np.mean([(x[:, None] >= grid[None, :]).mean(axis=0) for x in per_task], axis=0)
                if per_task else np.full(grid.size, np.nan))
        rows.append(pd.DataFrame({"strategy": name, "tau": grid, "fraction": frac, "tasks": len(tasks)}))
    return pd.concat(rows, ignore_index=True)


__all__ = ["performance_profile", "probability_of_improvement"]
