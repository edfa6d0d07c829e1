"""Anytime curves (quality of the best-by-validation model against compute) and compute-to-quality.

Compute is read on one axis (``cost=``): forward passes, FLOPs or device seconds summed row by
row (:mod:`.costs`), or ``wall``, the seconds since the (strategy, seed) began. Re-run rows
(``rerun=True``) add their cost where they happened but change no value: they chose nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..contract import DEFAULT_COST, REFIT_ROLE, WALL_AXIS, metric_mode, total_column
from .costs import check_axis, row_cost
from .selection import GROUP, REPLICATE, final_rows, labelled


def _elapsed(g: pd.DataFrame) -> np.ndarray:
    """Seconds since the replicate's first iteration began (Ray's timestamps); NaN without them."""
    if "timestamp" not in g or "time_this_iter_s" not in g:
        return np.full(len(g), np.nan)
    ts = g["timestamp"].to_numpy(dtype=float)
    return ts - np.nanmin(ts - g["time_this_iter_s"].to_numpy(dtype=float))


def anytime_curves(df: pd.DataFrame, metric: str = "test_acc", cost: str = DEFAULT_COST) -> pd.DataFrame:
    """Best-so-far-by-validation ``metric`` against cumulative compute, per replicate.

    Rows of one (strategy, run, seed) are put in the order they were produced
    (Ray's ``timestamp``, then iteration; trials run in parallel) and their cost on
    the ``cost`` axis (``fwd``: ``fwd_train + fwd_reg + fwd_eval``; ``flops``;
    ``device_seconds``) summed cumulatively; for ``wall``, the seconds since the
    replicate's first iteration began. A cost a run did not record is NaN. After each row, the
    curve's value is the ``metric`` of the trial that is best so far by
    validation (latest ``val_acc``; ``-val_loss`` without accuracies) at that
    trial's latest row; a grid-CV refit outranks the folds once it reports,
    since it is what grid CV returns, and a trial that ends short of the most
    epochs (ASHA-stopped) leaves the candidates at its last row. So the curve
    ends on the final model of the contract's rule. A re-run row adds its cost and
    leaves the value as it was. A row whose model was not observed (``observed`` False:
    ``observe_every``) has a NaN ``metric``, so the curve is NaN there: missing, never zero.
    Returns columns GROUP + run, seed, ``cum_<cost>`` (``cum_fwd``, ``cum_flops``,
    ``cum_device_seconds``, ``cum_wall``), ``value``.
    """
    check_axis(cost)
    x_col = f"cum_{cost}"
    parts = []
    df = labelled(df)
    order = [c for c in ("timestamp", "iteration") if c in df]
    real = df[~df["placeholder"]] if "placeholder" in df else df
    for key, g in real.groupby([*GROUP, *REPLICATE], observed=True, dropna=False, sort=True):
        g = g.sort_values(order, kind="stable") if order else g
        cum = _elapsed(g) if cost == WALL_AXIS else np.cumsum(row_cost(g, cost))
        rerun = g["rerun"].to_numpy(dtype=bool) if "rerun" in g else np.zeros(len(g), dtype=bool)
        use_acc = g["val_acc"].notna().any()
        score = g["val_acc"].to_numpy(dtype=float) if use_acc else -g["val_loss"].to_numpy(dtype=float)
        score = np.where(g["role"].astype(str).to_numpy() == REFIT_ROLE, np.inf, score)
        value = g[metric].to_numpy(dtype=float)
        trials = g["trial_id"].astype(str).to_numpy()
        epochs = g["epoch"].to_numpy()
        # A trial that ended short of the most epochs (stopped by ASHA) stops being a
        # candidate at its last row, when the scheduler stopped it; so the curve ends
        # on the final model of the contract's rule.
        own = np.flatnonzero(~rerun)
        max_ep = pd.Series(epochs[own]).groupby(trials[own]).max()
        last_row = pd.Series(own).groupby(trials[own]).max()
        stop_at = {t: int(last_row[t]) for t in max_ep.index if max_ep[t] < epochs[own].max(initial=0)}
        latest: dict[str, tuple[float, float]] = {}
        best_t: str | None = None
        out = np.empty(len(g))
        held = np.nan  # value of the model in hand while no trial is a candidate
        for i in range(len(g)):
            if rerun[i]:  # cost only: a superseded row chooses nothing
                out[i] = held
                continue
            t = trials[i]
            s = score[i] if not np.isnan(score[i]) else -np.inf
            prev = latest[t][0] if t in latest else None
            latest[t] = (s, value[i])
            if best_t is None:
                best_t = t
            elif t == best_t:
                if prev is not None and s < prev:  # the leader got worse: look again
                    best_t = max(latest, key=lambda k: latest[k][0])
            elif s > latest[best_t][0]:
                best_t = t
            if best_t is not None and latest[best_t][0] > -np.inf:
                held = latest[best_t][1]
            out[i] = held
            if stop_at.get(t) == i:
                del latest[t]
                if t == best_t:
                    best_t = max(latest, key=lambda k: latest[k][0]) if latest else None
        parts.append(pd.DataFrame({**dict(zip([*GROUP, *REPLICATE], key)), x_col: cum, "value": out}))
    if not parts:
        return pd.DataFrame(columns=[*GROUP, *REPLICATE, x_col, "value"])
    return pd.concat(parts, ignore_index=True)


def compute_to_quality(df: pd.DataFrame, within: float = 1.0, metric: str = "test_acc",
                       cost: str = DEFAULT_COST) -> pd.DataFrame:
    """Compute (on the ``cost`` axis) each strategy needed to come within ``within`` points of a target.

    ``within`` is in points, hundredths of the metric (percentage points of accuracy or
    ECE; 0.01 nats of NLL per point). Which side is better comes from the contract
    (:func:`analysis.contract.metric_mode`: accuracy higher; ECE, NLL, Brier, losses
    lower); an unknown metric raises ValueError instead of guessing.

    Two targets per (experiment, dataset): the strategy's own final ``metric`` (per
    seed) and the best strategy's (the best mean final ``metric``). The compute is the
    first point of the anytime curve (:func:`anytime_curves` on the same axis) that is
    within the margin of the target or better. Columns, named by the axis (here for
    ``fwd``): ``fwd_to_own`` and ``fwd_to_best`` (mean over the seeds that got there),
    ``reached_own`` / ``reached_best`` (how many seeds got there with a known cost),
    ``n_seeds``, ``fwd_total`` (the curve's end, mean per seed; NaN where a run did not
    record the axis), ``best_strategy``, ``within``, ``mode`` (max or min) and
    ``cost_axis``. The wall axis names its total ``wall_seconds``.
    """
    mode = metric_mode(metric)
    check_axis(cost)
    higher = mode == "max"
    x_col, to_own, to_best, total_col = f"cum_{cost}", f"{cost}_to_own", f"{cost}_to_best", total_column(cost)
    curves = anytime_curves(df, metric, cost)
    fin = final_rows(df)
    if fin.empty or curves.empty:
        return pd.DataFrame(columns=[*GROUP, to_own, to_best])
    tol = within / 100.0
    finals = fin.set_index([*GROUP, *REPLICATE])[metric]
    rows = []
    for (exp, ds), g in curves.groupby(["experiment", "dataset"], observed=True, dropna=False, sort=True):
        fe = fin[(fin["experiment"].astype(str) == str(exp)) & (fin["dataset"].astype(str) == str(ds))]
        means = fe.groupby("strategy", observed=True)[metric].mean().dropna()
        best_strategy = str(means.idxmax() if higher else means.idxmin()) if len(means) else None
        best = float(means.max() if higher else means.min()) if len(means) else math.nan
        for strat, gs in g.groupby("strategy", observed=True, sort=True):
            own_c: list[float] = []
            best_c: list[float] = []
            total: list[float] = []
            for (run, seed), gr in gs.groupby(REPLICATE, observed=True, sort=True):
                total.append(gr[x_col].iloc[-1])
                v, c = gr["value"].to_numpy(dtype=float), gr[x_col].to_numpy(dtype=float)
                own = finals.get((exp, ds, strat, run, seed), math.nan)
                for target, sink in ((own, own_c), (best, best_c)):
                    if not np.isfinite(target):
                        sink.append(math.nan)
                        continue
                    ok = v >= target - tol if higher else v <= target + tol
                    hit = np.flatnonzero(ok)
                    sink.append(c[hit[0]] if hit.size else math.nan)
            rows.append({"experiment": exp, "dataset": ds, "strategy": strat,
                         to_own: float(np.nanmean(own_c)) if np.isfinite(own_c).any() else math.nan,
                         "reached_own": int(np.isfinite(own_c).sum()),
                         to_best: float(np.nanmean(best_c)) if np.isfinite(best_c).any() else math.nan,
                         "reached_best": int(np.isfinite(best_c).sum()),
                         "n_seeds": len(total), total_col: float(np.mean(total)),
                         "best_strategy": best_strategy, "within": within, "mode": mode, "cost_axis": cost})
    return pd.DataFrame(rows)
