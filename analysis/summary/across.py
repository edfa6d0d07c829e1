"""Statistics across the tasks of a suite: ranks, normalised scores, paired wins, cost ratios.

One task cannot say whether an ordering of strategies is a property of the methods or of that
task; the protocols researchers trust answer across many (Demšar 2006, "Statistical
comparisons of classifiers over multiple data sets", JMLR 7; Agarwal et al. 2021, "Deep RL at
the edge of the statistical precipice", the rliable protocol). The units, and why:

* A **block** is one (task, run, seed): the strategies' final models of one task trained with
  the same seed (same split, same initialisation). Ranks are taken within a block and paired
  tests pair by block. Only **complete** blocks count (every compared strategy has a final
  model there); the others are left out and said so (``attrs["notes"]`` and a
  :class:`~analysis.results.ResultsWarning`): pass ``strategies=`` to drop a strategy that
  some task lacks rather than lose that task's blocks.
* A final model whose ``metric`` is not finite, or that the loader marked diverged, **failed**:
  it ranks last in its block (failures tie among themselves), has no normalised score (it is
  left out of the IQM, counted in ``n_failed``) and is left out of the paired tests.
* The **task** is what a conclusion generalises over. The Friedman test and the Nemenyi
  critical difference take one value per task (the mean over its seeds, N = tasks), never
  seeds as blocks: the seeds of one task are not independent evidence about other tasks,
  and counting them as blocks would shrink the critical difference by sqrt(seeds) and claim
  more than the tasks allow. Bootstrap intervals resample seeds within tasks (stratified):
  they say how much the seeds move a figure on these tasks, nothing about other tasks.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..contract import DEFAULT_COST, metric_mode, total_column
from ..results.errors import ResultsWarning
from .costs import check_axis
from .selection import REPLICATE, bare, final_rows, labelled
from .statistics import MIN_BOOTSTRAP, paired_pvalues

#: The strategy every other is compared with (wins/ties/losses, cost ratio).
REFERENCE = "cross_reg"
#: The strategy whose per-task mean is a normalised score of 0.
BASELINE = "fixed"
#: One block: the unit ranks are taken in and pairs are formed on.
BLOCK = ["task", *REPLICATE]
#: Paired tests ``across_tasks`` can count wins with.
TESTS = ("ttest", "wilcoxon")


def task_label(frame: pd.DataFrame) -> pd.Series:
    """Each row's task: the ``task`` column, else ``experiment`` (frames loaded before the
    loader labelled tasks, or built by hand)."""
    for col in ("task", "experiment"):
        if col in frame:
            return frame[col].astype(str)
    raise ValueError("the frame has neither a 'task' nor an 'experiment' column: nothing says which task a row is")


def final_values(df: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """One row per (task, strategy, run, seed) final model: ``value`` (``metric``, NaN when the
    model failed) and ``failed``.

    ``df`` is :func:`analysis.load_results`' frame (its ``final_epoch`` rows are read), or a frame
    built by hand with one row per final model: ``task`` (or ``experiment``), ``strategy``,
    ``seed``, ``metric``, optionally ``run`` and ``diverged``. ValueError where a (task,
    strategy, run, seed) has two final models.
    """
    metric_mode(metric)  # an unknown metric is refused before anything is computed
    fin = final_rows(df) if "final_epoch" in df else bare(df)
    if metric not in fin:
        raise ValueError(f"no column {metric!r} in the frame")
    value = pd.to_numeric(fin[metric], errors="coerce").to_numpy(dtype=float)
    failed = ~np.isfinite(value)
    if "diverged" in fin:
        failed |= fin["diverged"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    out = pd.DataFrame({
        "task": task_label(fin).to_numpy(), "strategy": fin["strategy"].astype(str).to_numpy(),
        "run": fin["run"].astype(str).to_numpy() if "run" in fin else "run",
        "seed": pd.to_numeric(fin["seed"]).to_numpy(dtype=np.int64),
        "value": np.where(failed, np.nan, value), "failed": failed})
    dup = out.duplicated(["task", "strategy", *REPLICATE], keep=False)
    if dup.any():
        shown = out.loc[dup, ["task", "strategy", "run", "seed"]].drop_duplicates().head(5)
        raise ValueError("more than one final model per (task, strategy, run, seed): "
                         + "; ".join("/".join(map(str, r)) for r in shown.itertuples(index=False)))
    return out


@dataclass
class Blocks:
    """The complete blocks of a comparison, one row each, one column per strategy."""

    metric: str
    strategies: list[str]
    #: the metric turned so that higher is better; -inf where the model failed
    oriented: pd.DataFrame
    failed: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys(self.oriented.index.get_level_values("task")))

    def ranks(self) -> pd.DataFrame:
        """Rank of each strategy within each block: 1 = best, ties (failures among them) get
        the average of the ranks they span (``scipy.stats.rankdata``, ``method="average"``)."""
        r = stats.rankdata(-self.oriented.to_numpy(dtype=float), method="average", axis=1)
        return pd.DataFrame(r, index=self.oriented.index, columns=self.strategies)

    def task_means(self) -> pd.DataFrame:
        """Per task (rows) and strategy: mean over the task's blocks of the oriented metric,
        failures left out; -inf where every seed failed (the strategy has no result there)."""
        finite = self.oriented.where(np.isfinite(self.oriented))
        means = finite.groupby(level="task", sort=False).mean()
        return means.where(means.notna(), -np.inf).loc[self.tasks]


def blocks(finals: pd.DataFrame, metric: str, strategies: Sequence[str] | None = None) -> Blocks:
    """The complete blocks of ``finals`` (:func:`final_values`) over ``strategies`` (default: every
    strategy, in order of appearance). Incomplete blocks are left out, with a note and a warning
    naming what each task missed."""
    names = list(dict.fromkeys(finals["strategy"])) if strategies is None else list(strategies)
    unknown = [s for s in names if s not in set(finals["strategy"])]
    if unknown:
        raise ValueError(f"no final models of {', '.join(map(repr, unknown))} in the frame")
    f = finals[finals["strategy"].isin(names)]
    sign = 1.0 if metric_mode(metric) == "max" else -1.0
    oriented = (sign * f["value"]).where(~f["failed"], -np.inf)
    wide = f.assign(v=oriented).set_index([*BLOCK, "strategy"])["v"].unstack("strategy").reindex(columns=names)
    present = f.groupby(BLOCK)["strategy"].agg(set).reindex(wide.index)
    complete = wide.notna().all(axis=1)
    notes = []
    if not complete.all():
        lacking = (present[~complete].map(lambda s: tuple(n for n in names if n not in s))
                   .groupby(level="task", sort=False).agg(lambda v: sorted({x for t in v for x in t})))
        n_out = int((~complete).sum())
        notes.append(f"{n_out} of {len(wide)} (task, seed) blocks left out, a strategy having no final model "
                     "there: " + "; ".join(f"{t}: no {', '.join(m)}" for t, m in lacking.items()))
        warnings.warn(notes[-1], ResultsWarning, stacklevel=3)
    wide = wide[complete]
    if wide.empty:
        raise ValueError(f"no (task, seed) where every one of {', '.join(names)} has a final model")
    failed = pd.DataFrame(np.isneginf(wide.to_numpy(dtype=float)), index=wide.index, columns=names)
    return Blocks(metric, names, wide.astype(float), failed, notes)


def normalised_scores(b: Blocks, baseline: str = BASELINE) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per block and strategy, the score (x - low) / (best - low) in the metric's better
    direction, from the task's per-strategy means over its seeds: ``best`` is the best strategy's
    mean, ``low`` the ``baseline``'s (so 0 = as good as ``fixed`` on average, 1 = as good as the
    best strategy on average; a seed may fall outside [0, 1]). Where ``baseline`` is not
    compared, failed on every seed of the task, or is itself the best (a zero span), the task is
    normalised min-max over the strategies' means instead (``low`` = the worst mean); where every
    mean is equal, or no strategy has one, the task has no scale and its scores are NaN.
    Failed models score NaN. Returns the scores and ``{task: "fixed" | "min-max" | "none"}``."""
    means = b.task_means()
    scores = pd.DataFrame(np.nan, index=b.oriented.index, columns=b.strategies)
    how: dict[str, str] = {}
    for task, m in means.iterrows():
        ok = m[np.isfinite(m.to_numpy(dtype=float))]
        best = float(ok.max()) if len(ok) else math.nan
        low = float(m[baseline]) if baseline in m.index else math.nan
        how[str(task)] = "fixed"
        if not (math.isfinite(low) and best > low):
            low, how[str(task)] = (float(ok.min()) if len(ok) else math.nan), "min-max"
        if not best > low:
            how[str(task)] = "none"
            continue
        rows = b.oriented.xs(task, level="task", drop_level=False)
        s = (rows - low) / (best - low)
        scores.loc[rows.index] = s.where(np.isfinite(rows))
    return scores, how


def stratified_iqm(per_task: list[np.ndarray], *, n_resamples: int = 2000, confidence_level: float = 0.95,
                   rng: int | np.random.Generator | None = 0) -> tuple[float, float, float]:
    """(IQM, low, high) of the scores pooled over tasks: the interquartile mean
    (``scipy.stats.trim_mean(x, 0.25)``) and its percentile interval under the stratified
    bootstrap (each task's scores resampled with replacement within the task, as rliable does).

    The interval is withheld (NaN) with fewer than :data:`MIN_BOOTSTRAP` scores in all, or where
    no task has two: resampling one seed per task moves nothing and would read as certainty."""
    parts = [np.asarray(x, dtype=float) for x in per_task]
    parts = [x[np.isfinite(x)] for x in parts]
    parts = [x for x in parts if x.size]
    if not parts:
        return math.nan, math.nan, math.nan
    pooled = np.concatenate(parts)
    point = float(stats.trim_mean(pooled, 0.25))
    if pooled.size < MIN_BOOTSTRAP or max(x.size for x in parts) < 2:
        return point, math.nan, math.nan
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    draws = np.concatenate([x[gen.integers(0, x.size, size=(n_resamples, x.size))] for x in parts], axis=1)
    boot = stats.trim_mean(draws, 0.25, axis=1)
    tail = (1.0 - confidence_level) / 2.0
    lo, hi = np.quantile(boot, [tail, 1.0 - tail])
    return point, float(lo), float(hi)


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Demšar's (2006) critical difference of mean ranks for the Nemenyi test: two of ``k``
    strategies ranked over ``n`` tasks differ at level ``alpha`` when their mean ranks differ by
    at least q_alpha * sqrt(k (k + 1) / (6 n)), q_alpha the studentized range's upper quantile
    for k groups and infinite degrees of freedom over sqrt(2)
    (``scipy.stats.studentized_range``; 2.343 for k = 3 at 0.05). NaN for k < 2 or n < 1."""
    if k < 2 or n < 1:
        return math.nan
    q = float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf)) / math.sqrt(2.0)
    return q * math.sqrt(k * (k + 1) / (6.0 * n))


def friedman(task_means: pd.DataFrame) -> tuple[float, float, str]:
    """(statistic, p, note): ``scipy.stats.friedmanchisquare`` over the tasks (blocks) of the
    strategies' per-task means. NaN with fewer than 3 strategies or 2 tasks; the note says when
    the chi-square approximation is rough (Demšar: it wants more than about 10 tasks)."""
    n, k = task_means.shape
    if k < 3 or n < 2:
        return math.nan, math.nan, (f"no Friedman test: it needs 3 or more strategies and 2 or more tasks "
                                    f"(here {k} and {n})")
    x = task_means.to_numpy(dtype=float)
    if np.all(x == x[:, :1]):
        return math.nan, math.nan, "no Friedman test: every strategy ties on every task"
    res = stats.friedmanchisquare(*x.T)
    note = (f"Friedman over {n} tasks: its chi-square approximation is rough below about 10 tasks"
            if n < 10 else f"Friedman over {n} tasks")
    return float(res.statistic), float(res.pvalue), note


def _paired(b: Blocks, a: str, ref: str, test: str, alpha: float) -> tuple[int, int, int, int]:
    """Per task: a against ``ref`` over the seeds where both final models are finite; a win or a
    loss where the paired test's two-sided p is below ``alpha`` (the sign of the mean
    difference decides which), a tie otherwise (undefined tests included). Also the number of
    tasks the test had no pair on."""
    wins = ties = losses = untested = 0
    for task in b.tasks:
        x = b.oriented.xs(task, level="task")
        pair = x[[a, ref]].replace(-np.inf, np.nan).dropna()
        if pair.empty:
            untested += 1
            ties += 1
            continue
        diff = (pair[a] - pair[ref]).to_numpy(dtype=float)
        d = float(diff.mean())
        if np.ptp(diff) <= 1e-12 * max(1.0, abs(d)):  # no spread (rounding aside): the t-test is undefined
            diff = np.zeros(0) if test == "ttest" else diff
        tp, wp = paired_pvalues(pair[a], pair[ref]) if diff.size else (math.nan, math.nan)
        p = tp if test == "ttest" else wp
        if p < alpha and d > 0:
            wins += 1
        elif p < alpha and d < 0:
            losses += 1
        else:
            ties += 1
    return wins, ties, losses, untested


def _costs(df: pd.DataFrame, cost: str) -> pd.Series:
    """Mean cost per seed on the ``cost`` axis, per (task, strategy); NaN where any seed's total
    is unknown. From every row of a loaded frame, or a hand-built frame's ``<axis>_total``."""
    col = total_column(check_axis(cost))
    if "final_epoch" in df:
        from .table import replicate_table
        rep = replicate_table(labelled(df))
        rep["task"] = rep["experiment"].astype(str)
    elif col in df:
        rep = bare(df).assign(task=task_label(df))
    else:
        return pd.Series(dtype=float)
    rep = rep.assign(strategy=rep["strategy"].astype(str))
    return rep.groupby(["task", "strategy"], sort=False)[col].agg(lambda v: float(v.mean(skipna=False)))


def across_tasks(df: pd.DataFrame, metric: str = "test_acc", cost: str = DEFAULT_COST, *,
                 strategies: Sequence[str] | None = None, reference: str = REFERENCE,
                 baseline: str = BASELINE, alpha: float = 0.05, test: str = "ttest",
                 confidence_level: float = 0.95, n_resamples: int = 2000, rng: int = 0) -> pd.DataFrame:
    """One row per strategy, across the tasks of ``df`` (a suite: :func:`analysis.load_results`
    of its directory; the units and the handling of failures are in the module's docstring).

    Columns:

    * ``tasks``, ``blocks``: tasks and complete (task, seed) blocks compared; ``n_failed``:
      its final models in them that failed (non-finite ``metric`` or diverged).
    * ``mean_rank``: its rank within each block by ``metric`` in the metric's better direction
      (:func:`analysis.contract.metric_mode`; 1 = best, ties averaged), averaged over the
      task's seeds, then over tasks (each task weighs the same whatever its seeds; the plain
      mean over blocks when every task has the same seeds).
    * ``task_rank``: its rank by per-task mean ``metric`` (mean over seeds), averaged over
      tasks: the ranks the Friedman test and the Nemenyi critical difference are about, and
      the axis of :func:`analysis.plots.cd_diagram`.
    * ``score_iqm``, ``score_ci_low``, ``score_ci_high``: the interquartile mean over tasks x
      seeds of the normalised score (0 = ``baseline``'s per-task mean, 1 = the best
      strategy's; the fallback in :func:`normalised_scores`, per task in
      ``attrs["normalisation"]``) and its stratified-bootstrap percentile interval
      (:func:`stratified_iqm`; seeds resampled within tasks, ``rng`` seeds a numpy Generator).
    * ``wins``, ``ties``, ``losses``: tasks on which it beats, cannot be told from, or loses to
      ``reference``, by a two-sided paired test over the task's seeds at ``alpha``: ``ttest``
      (``scipy.stats.ttest_rel``, default) or ``wilcoxon`` (signed-rank; with n seeds its p
      cannot go below 2 / 2**n, so with 5 seeds it never reaches 0.05: every task a tie). An
      undefined test (fewer than 2 pairs, differences without spread) is a tie. Missing
      (``<NA>``) on ``reference``'s own row.
    * ``cost_ratio_median``: over tasks, the median of its mean cost per seed over
      ``reference``'s on the ``cost`` axis (:data:`analysis.contract.COST_AXES` or ``wall``);
      tasks where either is unknown are left out, NaN when none is left.

    ``attrs``: ``friedman_p``, ``friedman_statistic`` (:func:`friedman` over tasks x strategies
    of per-task means), ``nemenyi_cd`` (:func:`nemenyi_cd` with k strategies, N tasks),
    ``n_tasks``, ``n_blocks``, ``alpha``, ``metric``, ``mode``, ``cost``, ``reference``,
    ``baseline``, ``test``, ``normalisation`` and ``notes`` (what was left out and what the
    figures cannot say). Sorted by ``mean_rank``.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}, got {test!r}")
    check_axis(cost)
    b = blocks(final_values(df, metric), metric, strategies)
    ranks = b.ranks()
    mean_rank = ranks.groupby(level="task", sort=False).mean().mean(axis=0)
    means = b.task_means()
    task_rank = pd.DataFrame(stats.rankdata(-means.to_numpy(dtype=float), method="average", axis=1),
                             columns=b.strategies).mean(axis=0)
    scores, how = normalised_scores(b, baseline)
    costs = _costs(df, cost)
    has_ref = reference in b.strategies
    rows = []
    for i, s in enumerate(b.strategies):
        per_task = [scores[s].xs(t, level="task").to_numpy(dtype=float) for t in b.tasks]
        point, lo, hi = stratified_iqm(per_task, n_resamples=n_resamples, confidence_level=confidence_level,
                                       rng=np.random.default_rng([rng, i]))
        row: dict[str, Any] = {"strategy": s, "tasks": len(b.tasks), "blocks": len(b.oriented),
                               "n_failed": int(b.failed[s].sum()), "mean_rank": float(mean_rank[s]),
                               "task_rank": float(task_rank[s]), "score_iqm": point, "score_ci_low": lo,
                               "score_ci_high": hi}
        if has_ref and s != reference:
            row["wins"], row["ties"], row["losses"], _ = _paired(b, s, reference, test, alpha)
        ratios = []
        for t in b.tasks:
            c, r = costs.get((t, s), math.nan), costs.get((t, reference), math.nan)
            if math.isfinite(c) and math.isfinite(r) and r > 0:
                ratios.append(c / r)
        row["cost_ratio_median"] = float(np.median(ratios)) if ratios else math.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in ("wins", "ties", "losses"):
        out[c] = (out[c] if c in out else pd.Series(pd.NA, index=out.index)).astype("Int64")
    cols = ["strategy", "tasks", "blocks", "n_failed", "mean_rank", "task_rank", "score_iqm", "score_ci_low",
            "score_ci_high", "wins", "ties", "losses", "cost_ratio_median"]
    out = out[cols].sort_values(["mean_rank", "task_rank"], kind="stable").reset_index(drop=True)
    stat, p, fnote = friedman(means)
    notes = [*b.notes, fnote]
    if not has_ref:
        notes.append(f"no {reference} among the strategies: no wins/ties/losses, no cost ratios")
    if any(v != "fixed" for v in how.values()):
        odd = {t: v for t, v in how.items() if v != "fixed"}
        notes.append(f"score normalised without {baseline} on " + ", ".join(f"{t} ({v})" for t, v in odd.items()))
    out.attrs.update({
        "friedman_p": p, "friedman_statistic": stat, "nemenyi_cd": nemenyi_cd(len(b.strategies), len(b.tasks), alpha),
        "n_tasks": len(b.tasks), "n_blocks": len(b.oriented), "alpha": alpha, "metric": metric,
        "mode": metric_mode(metric), "cost": cost, "reference": reference, "baseline": baseline, "test": test,
        "confidence_level": confidence_level, "normalisation": how, "notes": notes})
    return out


__all__ = ["BASELINE", "BLOCK", "REFERENCE", "TESTS", "Blocks", "across_tasks", "blocks", "final_values",
           "friedman", "nemenyi_cd", "normalised_scores", "stratified_iqm", "task_label"]
