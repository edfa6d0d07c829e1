"""The comparison table, paired tests and compute-to-quality, from ``load_results``'s frame.

Conventions (why they are what they are):

* A replicate is one (run, seed): a strategy's seeds are its independent repeats.
  Loading several runs of the same experiment pools their seeds.
* Quality numbers come from the final model (``final`` rows, rule in
  docs/contract.md) at its last epoch; the test split never chooses anything.
* Cost numbers come from every row of the strategy, stopped, cloned and refit
  trials included (DESIGN.md's fairness rule), as sums of per-epoch deltas.
  ``fwd_test`` is the harness's own observation and is left out of the cost.
* Accuracies are fractions in [0, 1]; "within X points" means X percentage
  points, i.e. X / 100.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

GROUP = ["experiment", "dataset", "strategy"]
REPLICATE = ["run", "seed"]
QUALITY = ["test_acc", "test_ece", "test_nll"]
COST = ["fwd_train", "fwd_reg", "fwd_eval"]
REFERENCE = "cross_reg"


# ----------------------------------------------------------------------------- statistics


def t_interval(values: Any, confidence_level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean over seeds; NaN bounds below 2 values.

    NaN values (a diverged final model) are left out; the caller reports how many.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence_level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return m, m - half, m + half


def bootstrap_ci(values: Any, *, n_resamples: int = 9999, confidence_level: float = 0.95,
                 method: str = "BCa", rng: int | np.random.Generator | None = 0) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean of ``values``.

    Written out rather than calling ``scipy.stats.bootstrap`` so that it is one
    vectorised draw (a summary computes many) and its steps are visible; it
    follows scipy's algorithm exactly (resample indices ``rng.integers(0, n,
    (n_resamples, n))``, linear quantiles, BCa after Efron & Tibshirani 14.3 with
    jackknife acceleration), so with the same generator it returns the same
    numbers, which the tests check. ``method``: ``"BCa"`` (scipy's default;
    corrects the bias and skew that matter with few seeds) or ``"percentile"``.
    Degenerate data (all values equal) returns (value, value); fewer than two
    values returns NaN.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    if method not in ("BCa", "percentile"):
        raise ValueError(f"method must be 'BCa' or 'percentile', got {method!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    idx = gen.integers(0, n, (n_resamples, n))
    theta_b = x[idx].mean(axis=-1)
    alpha = (1 - confidence_level) / 2
    if method == "percentile":
        lo, hi = alpha, 1 - alpha
    else:
        theta_hat = x.mean()
        pct = (np.count_nonzero(theta_b < theta_hat) + np.count_nonzero(theta_b <= theta_hat)) / (2 * n_resamples)
        z0 = special.ndtri(pct)
        jack = (x.sum() - x) / (n - 1)  # mean of the sample without each value
        u = (n - 1) * (jack.mean() - jack)
        a_hat = (np.sum(u**3) / n**3) / (6 * (np.sum(u**2) / n**2) ** 1.5)
        z_a = special.ndtri(alpha)
        lo = special.ndtr(z0 + (z0 + z_a) / (1 - a_hat * (z0 + z_a)))
        hi = special.ndtr(z0 + (z0 - z_a) / (1 - a_hat * (z0 - z_a)))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return math.nan, math.nan
    q = np.quantile(theta_b, [lo, hi])
    return float(q[0]), float(q[1])


# ----------------------------------------------------------------------------- selections


def _labelled(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a non-null ``dataset`` label: pandas drops NaN keys from groupby and joins."""
    if "dataset" not in df:
        return df.assign(dataset="unknown")
    if df["dataset"].isna().any():
        d = df["dataset"].astype(object)
        return df.assign(dataset=d.where(d.notna(), "unknown"))
    return df


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, dataset, strategy, run, seed): the final model's last epoch.

    "Last" is the highest epoch, ties (a PBT restore repeating epochs) broken by
    row order, which ``load_results`` keeps as file order.
    """
    df = _labelled(df)
    f = df[df["final"]]
    if f.empty:
        return f
    f = f.sort_values("epoch", kind="stable")
    return f.groupby([*GROUP, *REPLICATE], observed=True, dropna=False, sort=True).tail(1)


def _replicate_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, dataset, strategy, run, seed): quality of the final model and costs."""
    keys = [*GROUP, *REPLICATE]
    g = df.groupby(keys, observed=True, dropna=False, sort=True)
    rep = g[COST].sum()
    rep["trial_seconds"] = g["train_seconds"].sum(min_count=1)
    rep["n_trials"] = g["trial_id"].nunique()
    if "timestamp" in df and "time_this_iter_s" in df:
        start = (df["timestamp"] - df["time_this_iter_s"]).groupby(
            [df[k] for k in keys], observed=True, dropna=False, sort=True).min()
        rep["wall_seconds"] = g["timestamp"].max() - start
    else:
        rep["wall_seconds"] = np.nan
    fin = final_rows(df)
    if len(fin):
        rep = rep.join(fin.set_index(keys)[QUALITY], how="left")
    else:
        for c in QUALITY:
            rep[c] = np.nan
    return rep.reset_index()


def summarize(df: pd.DataFrame, confidence_level: float = 0.95) -> pd.DataFrame:
    """One row per (experiment, dataset, strategy): quality with CIs over seeds, and cost.

    Columns:

    * ``n_seeds`` replicates (run, seed) seen; ``n_final`` of them whose final model
      has a finite test accuracy (a diverged or unfinished one does not).
    * ``<metric>_mean``, ``<metric>_ci_low``, ``<metric>_ci_high`` for test_acc,
      test_ece, test_nll of the final model at its last epoch: mean and Student-t
      95% interval over seeds (NaN with one seed).
    * ``fwd_train``, ``fwd_reg``, ``fwd_eval``: sample-forward passes summed over
      ALL rows of the strategy (every trial, stopped ones included), averaged per
      seed; ``fwd_total`` their sum; ``cost_vs_cross_reg`` = fwd_total divided by
      cross_reg's in the same experiment and dataset (NaN without cross_reg).
    * ``wall_seconds``: elapsed time of the strategy's Tuner per seed, from Ray's
      timestamps (last report minus the start of the earliest reported
      iteration: ``min(timestamp - time_this_iter_s)``), so parallel trials count
      once; NaN where Ray's timestamps are absent. ``trial_seconds``: the sum of
      ``train_seconds`` over all rows (compute time, parallel trials add up).
      Both averaged per seed.
    * ``n_trials``: trials per seed (mean); ``status``: the runs' statuses.
    """
    if df.empty:
        return pd.DataFrame(columns=[*GROUP, "n_seeds"])
    df = _labelled(df)
    rep = _replicate_table(df)
    rows = []
    for key, g in rep.groupby(GROUP, observed=True, dropna=False, sort=True):
        row: dict[str, Any] = dict(zip(GROUP, key))
        row["n_seeds"] = len(g)
        row["n_final"] = int(np.isfinite(g["test_acc"].to_numpy(dtype=float)).sum())
        row["n_trials"] = float(g["n_trials"].mean())
        for m in QUALITY:
            mean, lo, hi = t_interval(g[m], confidence_level)
            row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"] = mean, lo, hi
        for c in COST:
            row[c] = float(g[c].mean())
        row["fwd_total"] = float(g[COST].sum(axis=1).mean())
        row["wall_seconds"] = float(g["wall_seconds"].mean())
        row["trial_seconds"] = float(g["trial_seconds"].mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    ref = out[out["strategy"].astype(str) == REFERENCE].set_index(["experiment", "dataset"])["fwd_total"]
    ref = ref[~ref.index.duplicated()]
    idx = pd.MultiIndex.from_frame(out[["experiment", "dataset"]])
    out["cost_vs_cross_reg"] = ref.reindex(idx).to_numpy() if len(ref) else np.nan
    out["cost_vs_cross_reg"] = out["fwd_total"] / out["cost_vs_cross_reg"]
    status = {}
    if "status" in df:
        st = df.groupby(GROUP, observed=True, dropna=False)["status"].agg(
            lambda s: ",".join(sorted(set(map(str, s.dropna())))))
        status = st.to_dict()
    out["status"] = [status.get(tuple(r), "") for r in out[GROUP].itertuples(index=False, name=None)]
    for c in ("experiment", "dataset", "strategy"):
        out[c] = out[c].astype("string")
    n_bad = out["n_seeds"] - out["n_final"]
    for r, bad in zip(out.itertuples(), n_bad):
        if bad:
            warnings.warn(f"{r.experiment}/{r.strategy}: {bad} of {r.n_seeds} seeds have no final model "
                          f"with a finite test_acc; their quality is left out of the means", stacklevel=2)
    return out


# ----------------------------------------------------------------------------- paired tests


def compare(df: pd.DataFrame, a: str, b: str, metric: str = "test_acc", *,
            n_resamples: int = 9999, confidence_level: float = 0.95, rng: int = 0,
            min_wilcoxon: int = 6) -> pd.DataFrame:
    """Paired comparison of strategies ``a`` and ``b`` on ``metric`` over shared seeds.

    Seeds pair naturally: same data split, same initial model seed. For each
    (experiment, dataset) with both strategies, the differences d = a - b of the
    final models' ``metric`` over the seeds both have give:

    * ``mean_diff`` and a paired bootstrap ``ci_low``/``ci_high`` (BCa, resampling
      seeds, :func:`bootstrap_ci`): no normality assumption; with very few seeds
      it is too narrow, so read it with ``n_pairs``.
    * ``wilcoxon_p``: two-sided Wilcoxon signed-rank test (scipy), only with at
      least ``min_wilcoxon`` pairs: below 6 even the most extreme outcome cannot
      reach p < 0.05 (the exact minimum is 2 / 2**n), so a p-value would only
      mislead; NaN then. ``ttest_p``: paired t-test, for reference.
    """
    fin = final_rows(df)
    out = []
    for (exp, ds), g in fin.groupby(["experiment", "dataset"], observed=True, dropna=False, sort=True):
        ga = g[g["strategy"].astype(str) == a].set_index(REPLICATE)[metric]
        gb = g[g["strategy"].astype(str) == b].set_index(REPLICATE)[metric]
        if ga.empty or gb.empty:
            continue
        pair = pd.concat([ga.rename("a"), gb.rename("b")], axis=1, join="inner").dropna()
        d = (pair["a"] - pair["b"]).to_numpy(dtype=float)
        n = d.size
        lo, hi = bootstrap_ci(d, n_resamples=n_resamples, confidence_level=confidence_level, rng=rng)
        wp = tp = math.nan
        if n >= min_wilcoxon and np.any(d != 0):
            wp = float(stats.wilcoxon(pair["a"], pair["b"]).pvalue)
        if n >= 2 and np.std(d) > 0:
            tp = float(stats.ttest_rel(pair["a"], pair["b"]).pvalue)
        out.append({"experiment": exp, "dataset": ds, "a": a, "b": b, "metric": metric, "n_pairs": n,
                    "mean_a": float(pair["a"].mean()) if n else math.nan,
                    "mean_b": float(pair["b"].mean()) if n else math.nan,
                    "mean_diff": float(d.mean()) if n else math.nan,
                    "ci_low": lo, "ci_high": hi, "wilcoxon_p": wp, "ttest_p": tp})
    if not out:
        raise ValueError(f"no experiment has final models of both {a!r} and {b!r}")
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- anytime


def anytime_curves(df: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Best-so-far-by-validation ``metric`` against cumulative forward passes, per replicate.

    Rows of one (strategy, run, seed) are put in the order they were produced
    (Ray's ``timestamp``, then iteration; trials run in parallel) and their
    ``fwd_train + fwd_reg + fwd_eval`` summed cumulatively. After each row, the
    curve's value is the ``metric`` of the trial that is best so far by
    validation (latest ``val_acc``; ``-val_loss`` without accuracies) at that
    trial's latest row; a grid-CV refit outranks the folds once it reports,
    since it is what grid CV returns, and a trial that ends short of the most
    epochs (ASHA-stopped) leaves the candidates at its last row. So the curve
    ends on the final model of the contract's rule. Returns columns GROUP +
    run, seed, ``cum_fwd``, ``value``.
    """
    parts = []
    df = _labelled(df)
    order = [c for c in ("timestamp", "iteration") if c in df]
    real = df[~df["placeholder"]] if "placeholder" in df else df
    for key, g in real.groupby([*GROUP, *REPLICATE], observed=True, dropna=False, sort=True):
        g = g.sort_values(order, kind="stable") if order else g
        cum = np.cumsum(g[COST].sum(axis=1).to_numpy(dtype=float))
        use_acc = g["val_acc"].notna().any()
        score = g["val_acc"].to_numpy(dtype=float) if use_acc else -g["val_loss"].to_numpy(dtype=float)
        score = np.where(g["role"].astype(str).to_numpy() == "refit", np.inf, score)
        value = g[metric].to_numpy(dtype=float)
        trials = g["trial_id"].astype(str).to_numpy()
        epochs = g["epoch"].to_numpy()
        # A trial that ended short of the most epochs (stopped by ASHA) stops being a
        # candidate at its last row, when the scheduler stopped it; so the curve ends
        # on the final model of the contract's rule.
        max_ep = pd.Series(epochs).groupby(trials).max()
        last_row = pd.Series(np.arange(len(g))).groupby(trials).max()
        stop_at = {t: int(last_row[t]) for t in max_ep.index if max_ep[t] < epochs.max()}
        latest: dict[str, tuple[float, float]] = {}
        best_t: str | None = None
        out = np.empty(len(g))
        held = np.nan  # value of the model in hand while no trial is a candidate
        for i in range(len(g)):
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
        parts.append(pd.DataFrame({**dict(zip([*GROUP, *REPLICATE], key)), "cum_fwd": cum, "value": out}))
    if not parts:
        return pd.DataFrame(columns=[*GROUP, *REPLICATE, "cum_fwd", "value"])
    return pd.concat(parts, ignore_index=True)


def compute_to_quality(df: pd.DataFrame, within: float = 1.0, metric: str = "test_acc") -> pd.DataFrame:
    """Forward passes each strategy needed to come within ``within`` points of a target.

    Two targets per (experiment, dataset): the strategy's own final ``metric``
    (per seed) and the best strategy's (the highest mean final ``metric``). The
    compute is the first point of the anytime curve (:func:`anytime_curves`)
    at or above target - within/100. Columns: ``fwd_to_own`` and ``fwd_to_best``
    (mean over the seeds that got there), ``reached_own`` / ``reached_best``
    (how many seeds got there), ``n_seeds``, ``fwd_total`` (mean per seed) and
    ``best_strategy``.
    """
    curves = anytime_curves(df, metric)
    fin = final_rows(df)
    if fin.empty or curves.empty:
        return pd.DataFrame(columns=[*GROUP, "fwd_to_own", "fwd_to_best"])
    tol = within / 100.0
    finals = fin.set_index([*GROUP, *REPLICATE])[metric]
    rows = []
    for (exp, ds), g in curves.groupby(["experiment", "dataset"], observed=True, dropna=False, sort=True):
        fe = fin[(fin["experiment"].astype(str) == str(exp))
                 & ((fin["dataset"].astype(str) == str(ds)) if pd.notna(ds) else fin["dataset"].isna())]
        means = fe.groupby("strategy", observed=True)[metric].mean().dropna()
        best_strategy = str(means.idxmax()) if len(means) else None
        best = float(means.max()) if len(means) else math.nan
        for strat, gs in g.groupby("strategy", observed=True, sort=True):
            own_c, best_c, total = [], [], []
            for (run, seed), gr in gs.groupby(REPLICATE, observed=True, sort=True):
                total.append(gr["cum_fwd"].iloc[-1])
                v, c = gr["value"].to_numpy(dtype=float), gr["cum_fwd"].to_numpy(dtype=float)
                own = finals.get((exp, ds, strat, run, seed), math.nan)
                for target, sink in ((own, own_c), (best, best_c)):
                    hit = np.flatnonzero(v >= target - tol) if np.isfinite(target) else np.array([])
                    sink.append(c[hit[0]] if hit.size else math.nan)
            rows.append({"experiment": exp, "dataset": ds, "strategy": strat,
                         "fwd_to_own": float(np.nanmean(own_c)) if np.isfinite(own_c).any() else math.nan,
                         "reached_own": int(np.isfinite(own_c).sum()),
                         "fwd_to_best": float(np.nanmean(best_c)) if np.isfinite(best_c).any() else math.nan,
                         "reached_best": int(np.isfinite(best_c).sum()),
                         "n_seeds": len(total), "fwd_total": float(np.mean(total)),
                         "best_strategy": best_strategy, "within": within})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- terminal


def _eng(x: float) -> str:
    if not np.isfinite(x):
        return "-"
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def _pm(mean: float, lo: float, hi: float, scale: float = 1.0, digits: int = 1) -> str:
    if not np.isfinite(mean):
        return "-"
    s = f"{mean * scale:.{digits}f}"
    if np.isfinite(lo) and np.isfinite(hi):
        s += f" ± {(hi - lo) / 2 * scale:.{digits}f}"
    return s


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as strings, one row per strategy: what the terminal and the report show.

    Accuracy and ECE in percent, NLL as is, each as mean ± half-width of the 95%
    interval over seeds; forward passes in engineering notation; ``seeds`` reads
    ``with a final model / seen`` where they differ.
    """
    g = summary
    return pd.DataFrame({
        "experiment": g["experiment"].astype(str),
        "dataset": g["dataset"].astype(str),
        "strategy": g["strategy"].astype(str),
        "seeds": [f"{int(a)}/{int(b)}" if a != b else f"{int(b)}" for a, b in zip(g["n_final"], g["n_seeds"])],
        "trials": g["n_trials"].map(lambda v: f"{v:.3g}"),
        "test acc %": [_pm(*v, 100) for v in g[["test_acc_mean", "test_acc_ci_low", "test_acc_ci_high"]].to_numpy()],
        "ECE %": [_pm(*v, 100) for v in g[["test_ece_mean", "test_ece_ci_low", "test_ece_ci_high"]].to_numpy()],
        "NLL": [_pm(*v, 1, 3) for v in g[["test_nll_mean", "test_nll_ci_low", "test_nll_ci_high"]].to_numpy()],
        "fwd total": g["fwd_total"].map(_eng),
        "x cross_reg": g["cost_vs_cross_reg"].map(lambda v: f"{v:.2f}" if np.isfinite(v) else "-"),
        "wall s": g["wall_seconds"].map(lambda v: f"{v:.0f}" if np.isfinite(v) else "-"),
        "trial s": g["trial_seconds"].map(lambda v: f"{v:.0f}" if np.isfinite(v) else "-"),
        "status": g["status"].astype(str),
    }, index=summary.index)


TABLE_NOTE = ("mean ± half-width of the 95% t-interval over seeds; cost = sample-forward passes of all trials "
              "(train + reg + eval), per seed; wall s from Ray's timestamps, trial s = sum of train_seconds")


def format_table(summary: pd.DataFrame) -> str:
    """The summary as fixed-width text for a terminal (``crossreg analyze``).

    One block per (experiment, dataset); columns as in :func:`display_table`.
    """
    if summary is None or summary.empty:
        return "(no results)"
    blocks = []
    for (exp, ds), g in summary.groupby(["experiment", "dataset"], dropna=False, sort=True):
        t = display_table(g).drop(columns=["experiment", "dataset"])
        head = f"experiment {exp}" + (f" · dataset {ds}" if pd.notna(ds) else "")
        blocks.append(head + "\n" + t.to_string(index=False))
    return "\n\n".join(blocks) + "\n" + TABLE_NOTE
