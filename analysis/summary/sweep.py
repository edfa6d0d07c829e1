"""Budget sweeps: each method as a quality-vs-cost curve, the Pareto front, and the cost to match.

A sweep (``crossreg sweep``) is one run directory whose strategies are *variants*: metadata.json's
``sweep`` maps each variant (the ``strategy`` label of its rows, e.g. ``pbt.P4``) to its method
(the base strategy, ``pbt``) and budget (``{"pbt_population": 4}``), and ``sweep_reference`` names
the cross-reg variant at the spec's own (r, K). A run that is not a sweep reads as one variant per
strategy, its method its own name.

Cost to match, per seed (the seeds pair the variants: same splits, same initial models): a
method's variants sorted by that seed's cost; at each cost the curve is the test quality of the
variant a practitioner with that budget would keep, the best by VALIDATION score among those
at most that cost (:func:`selection_scores`; the test split never chooses: a running best of
test accuracy would give a method with more variants more optimism, picked on the test split);
the cost where that curve first reaches the target is read by linear interpolation in log cost
between the two variants that straddle it. Never extrapolated: a curve that stays short of the target has
not reached it (counted, and left out of the ratio), and one whose cheapest variant already
meets it gives that variant's cost, an upper bound (counted too).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..contract import (
    COST_REFERENCES,
    DEFAULT_COST,
    FOLD_ROLE,
    REFIT_ROLE,
    SELECTION,
    SWEEP_KEY,
    metric_mode,
    total_column,
)
from .costs import check_axis
from .selection import GROUP, REPLICATE, labelled
from .statistics import mean_interval
from .table import is_regression, replicate_table, summarize, sweep_references


def sweep_variants(metadata: dict[str, Any], strategies: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{variant: (method, budget)}`` for ``strategies``, from the runs' metadata.json ``sweep``.

    A strategy no sweep lists is its own method with the spec's budget (``{}``): a run that is
    not a sweep has one variant per strategy.
    """
    known: dict[str, tuple[str, dict[str, Any]]] = {}
    for meta in metadata.values():
        sweep = (meta or {}).get(SWEEP_KEY)
        if not isinstance(sweep, dict):
            continue
        for variant, info in sweep.items():
            if isinstance(info, dict):
                budget = info.get("budget")
                known[str(variant)] = (str(info.get("strategy", variant)), dict(budget) if isinstance(budget, dict)
                                       else {})
    return {s: known.get(s, (s, {})) for s in strategies}


#: `budget_text` of a variant at the spec's own budget
NO_BUDGET = "-"


def budget_text(budget: dict[str, Any]) -> str:
    """``pbt_population=4`` (several as ``r=10, K=4``; a list of values by its size and
    ends, ``grid_values=3 in [0.01, 3]``); ``-`` for the spec's own budget."""
    def one(x: Any) -> str:
        return f"{x:.3g}" if isinstance(x, float) else str(x)

    def value(v: Any) -> str:
        if isinstance(v, (list, tuple)) and len(v) > 2:
            return f"{len(v)} in [{one(v[0])}, {one(v[-1])}]"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(one(x) for x in v) + "]"
        return one(v)

    return ", ".join(f"{k}={value(v)}" for k, v in budget.items()) or NO_BUDGET


def _reference_of(metadata: dict[str, Any], runs: set[str], present: set[str], reference: str | None) -> str:
    if reference is not None:
        if reference not in present:
            raise ValueError(f"reference {reference!r} is not among the strategies: {', '.join(sorted(present))}")
        return reference
    for name in [*sweep_references(metadata, runs), *COST_REFERENCES]:
        if name in present:
            return name
    raise ValueError("no reference to match: the run names no sweep_reference and has no "
                     f"{' or '.join(COST_REFERENCES)}; pass reference=")


def sweep_summary(df: pd.DataFrame, cost: str = DEFAULT_COST, metric: str = "test_acc",
                  confidence_level: float = 0.95) -> pd.DataFrame:
    """One row per (experiment, dataset, variant): its ``method``, ``budget`` and the columns of
    :func:`analysis.summary.summarize` on the ``cost`` axis (``strategy`` is the variant),
    ``is_reference`` (the sweep's reference variant) and ``pareto`` (on the front of
    :func:`pareto_front` by ``metric`` and ``cost``), sorted by method, then cost."""
    metadata: dict[str, Any] = dict(df.attrs.get("metadata") or {})
    s = summarize(df, confidence_level=confidence_level, cost=cost)
    if s.empty:
        return s
    variants = sweep_variants(metadata, list(s["strategy"].astype(str)))
    s.insert(3, "method", [variants[v][0] for v in s["strategy"].astype(str)])
    s.insert(4, "budget", [budget_text(variants[v][1]) for v in s["strategy"].astype(str)])
    refs = set(sweep_references(metadata, set(df["run"].astype(str)) if "run" in df else set()))
    named = (s["strategy"] == s["cost_reference"]).fillna(False).astype(bool)
    s["is_reference"] = s["strategy"].astype(str).isin(refs) | named
    front = pareto_front(s, cost=cost, metric=metric)
    s["pareto"] = s.index.isin(front.index)
    return s.sort_values(["experiment", "dataset", "method", total_column(cost), "strategy"],
                         kind="stable").reset_index(drop=True)


def pareto_front(summary: pd.DataFrame, cost: str = DEFAULT_COST, metric: str = "test_acc") -> pd.DataFrame:
    """The rows of ``summary`` (from :func:`summarize` or :func:`sweep_summary`) that no other
    row of the same (experiment, dataset) beats on both quality and cost: none has a mean
    ``metric`` at least as good (direction from the contract) at a total cost on the ``cost``
    axis at most as high, better in one of the two. Rows with an unknown quality or cost are
    no candidates. Sorted by cost; the index is ``summary``'s."""
    check_axis(cost)
    higher = metric_mode(metric) == "max"
    col, q_col = total_column(cost), f"{metric}_mean"
    if summary.empty or q_col not in summary or col not in summary:
        return summary.iloc[0:0]
    keep: list[Any] = []
    by = [c for c in ("experiment", "dataset") if c in summary]
    blocks = [b for _, b in summary.groupby(by, dropna=False, sort=False)] if by else [summary]
    for b in blocks:
        c = b[col].to_numpy(dtype=float)
        q = b[q_col].to_numpy(dtype=float) * (1 if higher else -1)
        ok = np.isfinite(c) & np.isfinite(q)
        for i in np.flatnonzero(ok):
            beaten = ok & (c <= c[i]) & (q >= q[i]) & ((c < c[i]) | (q > q[i]))
            if not beaten.any():
                keep.append(b.index[i])
    return summary.loc[keep].sort_values(col, kind="stable")


def _chosen(c: np.ndarray, v: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Costs in increasing order and, at each, the value of the variant chosen so far: the best
    ``score`` among the variants at most that cost (ties: the cheaper, the earlier). A variant
    with no score (NaN: no validation split) ranks below every scored one."""
    s = np.where(np.isfinite(score), score, -np.inf)
    order = np.lexsort((-s, c))
    c, v, s = c[order], v[order], s[order]
    pick = np.zeros(len(c), dtype=np.int64)
    for i in range(1, len(c)):
        pick[i] = i if s[i] > s[pick[i - 1]] else pick[i - 1]
    return c, v[pick]


def curve_cost(costs: Any, values: Any, target: float, mode: str = "max",
               scores: Any = None) -> tuple[float, bool]:
    """(cost, upper_bound): where the method's curve first reaches ``target``, interpolated
    linearly in log cost between the two points that straddle it.

    The curve at a cost is the ``values`` (a test metric) of the variant a practitioner holding
    that budget would choose: the best by ``scores`` (the validation score, higher is better:
    :func:`selection_scores`) among the variants costing at most that. Choosing by the test
    metric itself would give a method with more variants more optimism, picked on the test
    split. ``scores=None`` takes ``values`` as their own score (a running best): only for
    values that are validation scores themselves.

    Points with a non-positive/non-finite cost are left out; a chosen variant with no test value
    (diverged) does not reach the target. ``(nan, False)`` when the curve never reaches it;
    ``(cost, True)`` when its cheapest point already does, or the point before the first that
    does has no value to interpolate from (the cost needed is at most that, the curve says no
    more).
    """
    c, v = np.asarray(costs, dtype=float), np.asarray(values, dtype=float)
    sign = 1.0 if mode == "max" else -1.0
    sc = sign * v if scores is None else np.asarray(scores, dtype=float)
    ok = np.isfinite(c) & (c > 0)  # the choice never looks at the test value
    if not ok.any() or not math.isfinite(target):
        return math.nan, False
    c, curve = _chosen(c[ok], sign * v[ok], sc[ok])
    with np.errstate(invalid="ignore"):
        hit = np.flatnonzero(curve >= sign * target)  # a chosen model with no quality (NaN) does not reach it
    if not hit.size:
        return math.nan, False
    k = int(hit[0])
    if k == 0 or not np.isfinite(curve[k - 1]):
        return float(c[k]), True  # nothing cheaper to read from: at most this much
    if c[k] == c[k - 1]:
        return float(c[k]), False
    frac = (sign * target - curve[k - 1]) / (curve[k] - curve[k - 1])
    return float(np.exp(np.log(c[k - 1]) + frac * (np.log(c[k]) - np.log(c[k - 1])))), False


def chosen_value(costs: Any, values: Any, scores: Any, mode: str = "max") -> float:
    """``values`` of the variant chosen at the whole budget: the best by validation ``scores``
    (ties: the cheaper), the end of :func:`curve_cost`'s curve; NaN with no known cost, or where
    the chosen model has no test value (diverged)."""
    c, v = np.asarray(costs, dtype=float), np.asarray(values, dtype=float)
    ok = np.isfinite(c) & (c > 0)
    if not ok.any():
        return math.nan
    sign = 1.0 if mode == "max" else -1.0
    return float(sign * _chosen(c[ok], sign * v[ok], np.asarray(scores, dtype=float)[ok])[1][-1])


def _chosen_name(costs: np.ndarray, scores: np.ndarray, names: np.ndarray) -> str | None:
    """The variant chosen at the whole budget (best validation score, ties: the cheaper), as
    :func:`chosen_value` chooses it; None without a known cost."""
    ok = np.isfinite(costs) & (costs > 0)
    if not ok.any():
        return None
    s = np.where(np.isfinite(scores[ok]), scores[ok], -np.inf)
    order = np.lexsort((costs[ok], -s))  # best score first, then the cheaper
    return str(names[ok][order[0]])


def _task(metadata: dict[str, Any], rep: pd.DataFrame) -> str:
    """classification or regression: the spec's ``task`` where every run records the same one,
    else what the rows show (no finite test accuracy and a finite test loss: regression)."""
    tasks = {(m or {}).get("spec", {}).get("task") for m in metadata.values() if isinstance(m, dict)}
    tasks.discard(None)
    if len(tasks) == 1 and next(iter(tasks)) in SELECTION:
        return str(next(iter(tasks)))
    return "regression" if is_regression(rep) else "classification"


def selection_scores(df: pd.DataFrame, rep: pd.DataFrame, task: str) -> np.ndarray:
    """Per row of ``rep`` (:func:`analysis.summary.replicate_table`): the validation score that
    chose its final model, higher is better (``SELECTION``: ``val_acc``, or ``-val_loss``).

    It is the final model's own validation metric, except for a grid-CV refit, which has no
    validation split by contract: there it is the cross-validation score grid CV chose by, the
    best mean over grid points (fold trials grouped by their ``rho/*`` values) of the folds'
    last validation metric. NaN where there is none (a whole-pool model of the ``full_pool``
    protocol): such a variant ranks below every scored one. Never a test column.
    """
    col, mode = SELECTION[task]
    sign = 1.0 if mode == "max" else -1.0
    out = sign * (rep[col].to_numpy(dtype=float) if col in rep else np.full(len(rep), np.nan))
    refit = rep["final_role"].astype(str).to_numpy() == REFIT_ROLE if "final_role" in rep else np.zeros(len(rep), bool)
    if not refit.any() or "role" not in df:
        return out
    folds = labelled(df)
    folds = folds[(folds["role"].astype(str) == FOLD_ROLE) & ~folds["rerun"].to_numpy(dtype=bool)] \
        if "rerun" in folds else folds[folds["role"].astype(str) == FOLD_ROLE]
    if folds.empty:
        return out
    last = folds.sort_values("epoch", kind="stable").groupby(
        [*GROUP, *REPLICATE, "trial_id"], observed=True, dropna=False, sort=False).tail(1)
    point = [c for c in last.columns if c.startswith("rho/")]
    keys = [*GROUP, *REPLICATE]
    by_point = last.assign(_score=sign * last[col].to_numpy(dtype=float)).groupby(
        keys + point, observed=True, dropna=False, sort=False)["_score"].mean()
    cv = by_point.groupby(level=list(range(len(keys))), dropna=False).max()
    for i in np.flatnonzero(refit):
        key = tuple(rep.iloc[i][k] for k in keys)
        if key in cv.index:
            out[i] = float(cv.loc[key])
    return out


def _per_seed(rep: pd.DataFrame, ref: str, methods: dict[str, str], cost_col: str, metric: str,
              mode: str) -> list[dict[str, Any]]:
    """One row per (method, replicate) of one (experiment, dataset) block; ``rep`` carries each
    variant's validation ``score`` (:func:`selection_scores`), which makes every choice."""
    rep = rep.assign(method=rep["strategy"].astype(str).map(methods))
    ref_method = methods[ref]
    rows = []
    for (run, seed), r in rep.groupby(REPLICATE, observed=True, sort=True):
        own = r[r["strategy"].astype(str) == ref]
        q_ref = float(own[metric].iloc[0]) if len(own) else math.nan
        c_ref = float(own[cost_col].iloc[0]) if len(own) else math.nan
        curves = {m: (g[cost_col].to_numpy(dtype=float), g[metric].to_numpy(dtype=float),
                      g["score"].to_numpy(dtype=float)) for m, g in r.groupby("method", sort=True)}
        names = {m: g["strategy"].astype(str).to_numpy() for m, g in r.groupby("method", sort=True)}
        for m, (c, q, sc) in curves.items():
            known = np.isfinite(c) & (c > 0) & np.isfinite(q)
            row: dict[str, Any] = {"method": m, "reference_method": ref_method, "run": run, "seed": seed,
                                   "ref_quality": q_ref, "ref_cost": c_ref,
                                   "known": bool(known.any()) and math.isfinite(q_ref) and math.isfinite(c_ref)
                                   and c_ref > 0}
            match, bound = curve_cost(c, q, q_ref, mode, sc) if row["known"] else (math.nan, False)
            row.update(match_cost=match, match_ratio=match / c_ref if row["known"] else math.nan,
                       match_upper_bound=bound)
            # the method's pick at its whole budget, chosen on validation; its test quality
            best = chosen_value(c, q, sc, mode) if known.any() else math.nan
            best_cost = curve_cost(c, q, best, mode, sc)[0] if known.any() else math.nan
            rev, rbound = math.nan, False
            if m != ref_method and ref_method in curves and known.any():
                rc, rq, rs = curves[ref_method]
                rev, rbound = curve_cost(rc, rq, best, mode, rs)
            row.update(chosen=_chosen_name(c, sc, names[m]), method_best=best, method_best_cost=best_cost,
                       reverse_cost=rev,
                       reverse_ratio=rev / best_cost if known.any() else math.nan, reverse_upper_bound=rbound,
                       reverse_known=bool(known.any()) and m != ref_method and ref_method in curves)
            rows.append(row)
    return rows


def _aggregate(ratios: np.ndarray, bounds: np.ndarray, n: int, what: str,
               confidence_level: float) -> dict[str, Any]:
    """Mean of log ratios over the seeds that reached the target, Student-t interval, exp back."""
    reached = np.isfinite(ratios)
    k = int(reached.sum())
    mean, lo, hi = mean_interval(np.log(ratios[reached]), confidence_level) if k else (math.nan,) * 3
    notes = []
    if k == 0:
        notes.append(f"{what} not reached in any of {n} seed{'s' if n != 1 else ''}" if n else "no seed to compare")
    else:
        if k < n:
            notes.append(f"not reached in {n - k} of {n} seeds (left out of the ratio)")
        if k < 2:
            notes.append("no interval: 1 seed reached it")
        if bounds[reached].any():
            notes.append(f"upper bound in {int(bounds[reached].sum())} seed(s) (its cheapest point got there)")
    return {"ratio": math.exp(mean) if k else math.nan, "ci_low": math.exp(lo) if k >= 2 else math.nan,
            "ci_high": math.exp(hi) if k >= 2 else math.nan, "reached": k, "not_reached": n - k,
            "upper_bound": int(bounds[reached].sum()), "note": "; ".join(notes)}


def cost_to_match(df: pd.DataFrame, reference: str | None = None, cost: str = DEFAULT_COST, metric: str = "test_acc",
                  confidence_level: float = 0.95, per_seed: bool = False) -> pd.DataFrame:
    """The cost each method's curve needs to reach the reference's quality, and the reverse.

    ``reference``: a variant (default: metadata.json's ``sweep_reference``, else cross_reg,
    else fixed). For each (experiment, dataset) and method, per seed: ``match`` = the cost
    at which the method's quality-vs-cost curve (module doc) reaches the reference's final
    ``metric`` in that seed, divided by the reference's cost in that seed; ``reverse`` = the
    cost at which the reference's method's curve (cross-reg's (r, K) variants) reaches the
    method's own pick in that seed (the test quality of the variant it chooses by validation at
    its whole budget: ``chosen``, ``method_best`` in the per-seed rows), divided by the cost at
    which the method's own curve first reaches it (none for the reference's own method). Every
    choice reads the validation score (``SELECTION``), never a ``test_*`` column. Over seeds: the geometric mean
    ratio (``*_ratio``: mean of log ratios, exp back) with a Student-t interval of the mean
    log ratio at ``confidence_level`` (``*_ci_low``, ``*_ci_high``; none from fewer than 2
    seeds that reached the target), ``*_reached`` / ``*_not_reached`` seeds (not reached:
    left out of the ratio), ``*_upper_bound`` (seeds whose cheapest variant already got
    there) and ``*_note`` saying what limits the figure. Below 1 the method needs less than
    the reference. ``per_seed=True`` returns the per-seed rows instead.
    """
    check_axis(cost)
    mode = metric_mode(metric)
    metadata: dict[str, Any] = dict(df.attrs.get("metadata") or {})
    df = labelled(df)
    rep = replicate_table(df)
    if metric not in rep:
        raise ValueError(f"no {metric!r} in the results")
    rep["score"] = selection_scores(df, rep, _task(metadata, rep))
    cost_col = total_column(cost)
    seeds: list[dict[str, Any]] = []
    for (exp, ds), block in rep.groupby(["experiment", "dataset"], observed=True, dropna=False, sort=True):
        present = set(block["strategy"].astype(str))
        ref = _reference_of(metadata, set(block["run"].astype(str)), present, reference)
        methods = {v: m for v, (m, _) in sweep_variants(metadata, sorted(present)).items()}
        for one in _per_seed(block, ref, methods, cost_col, metric, mode):
            seeds.append({"experiment": exp, "dataset": ds, "reference": ref, **one})
    per = pd.DataFrame(seeds)
    if per_seed or per.empty:
        return per
    out = []
    for (exp, ds, method), g in per.groupby(["experiment", "dataset", "method"], dropna=False, sort=True):
        known = g[g["known"]]
        row: dict[str, Any] = {"experiment": exp, "dataset": ds, "method": method,
                               "reference": g["reference"].iloc[0], "cost_axis": cost, "metric": metric,
                               "n_seeds": len(known)}
        fwd = _aggregate(known["match_ratio"].to_numpy(dtype=float), known["match_upper_bound"].to_numpy(dtype=bool),
                         len(known), "the reference's quality", confidence_level)
        if len(known) < len(g):
            unknown = f"cost or quality unknown in {len(g) - len(known)} seed(s) on this axis"
            fwd["note"] = "; ".join(filter(None, [fwd["note"], unknown]))
        row.update({f"match_{k}": v for k, v in fwd.items()})
        rk = known[known["reverse_known"]]
        rev = _aggregate(rk["reverse_ratio"].to_numpy(dtype=float), rk["reverse_upper_bound"].to_numpy(dtype=bool),
                         len(rk), "its best quality", confidence_level)
        if method == g["reference_method"].iloc[0]:
            rev["note"] = "the reference's own method"
        row.update({f"reverse_{k}": v for k, v in rev.items()})
        out.append(row)
    return pd.DataFrame(out)


__all__ = ["budget_text", "chosen_value", "cost_to_match", "curve_cost", "pareto_front", "selection_scores",
           "sweep_summary", "sweep_variants"]
