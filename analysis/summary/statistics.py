"""Intervals over seeds and paired tests between strategies, from scipy.stats.

Written to not overstate what a handful of seeds can show:

* The interval of a mean is Student's t (``scipy.stats.t``) intersected with the
  metric's range (:func:`analysis.contract.metric_bounds`: accuracy and ECE in
  [0, 1], NLL >= 0). The true mean lies in that range, so cutting the interval there
  loses no coverage, and no accuracy interval reaches 107%. Where it is cut the
  interval is no longer symmetric about the mean; the table shows both sides then.
* The paired bootstrap (``scipy.stats.bootstrap``, BCa) is withheld below
  ``min_bootstrap`` = 5 pairs: with 3 seeds there are only 10 distinct resample
  means and the interval is far too narrow. The paired t-test and the Wilcoxon
  signed-rank test are always reported: their p-values say honestly how little a
  few seeds decide (the smallest two-sided Wilcoxon p with n pairs is 2 / 2**n).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from ..contract import metric_bounds
from .examples import hierarchical_interval, mcnemar_exact, paired_correctness
from .selection import REPLICATE, final_rows

#: Fewest pairs with which ``compare`` reports a bootstrap interval.
MIN_BOOTSTRAP = 5


def _finite(values: npt.ArrayLike) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return x[np.isfinite(x)]


def mean_interval(values: npt.ArrayLike, confidence_level: float = 0.95,
                  bounds: tuple[float, float] = (-math.inf, math.inf)) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean over seeds, cut to ``bounds``.

    NaN values (a diverged final model) are left out; the caller reports how many.
    Fewer than two values: NaN bounds. All values equal: a zero-width interval, which is
    what the t formula gives (the sample shows no spread).
    """
    x = _finite(values)
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan
    sem = float(stats.sem(x))
    lo, hi = (m, m) if sem == 0 else stats.t.interval(confidence_level, n - 1, loc=m, scale=sem)
    return m, float(np.clip(lo, *bounds)), float(np.clip(hi, *bounds))


def metric_interval(values: npt.ArrayLike, metric: str,
                    confidence_level: float = 0.95) -> tuple[float, float, float]:
    """:func:`mean_interval` within ``metric``'s range (unbounded for a metric the contract does not know)."""
    try:
        bounds = metric_bounds(metric)
    except ValueError:
        bounds = (-math.inf, math.inf)
    return mean_interval(values, confidence_level, bounds)


def iqm(values: npt.ArrayLike) -> float:
    """Interquartile mean over seeds (``scipy.stats.trim_mean(x, 0.25)``): robust to one
    diverged or lucky seed; NaN values are left out, NaN when none is left."""
    x = _finite(values)
    return float(stats.trim_mean(x, 0.25)) if x.size else math.nan


def bootstrap_interval(values: npt.ArrayLike, *, n_resamples: int = 9999, confidence_level: float = 0.95,
                       method: str = "BCa", rng: int | np.random.Generator | None = 0) -> tuple[float, float]:
    """Bootstrap interval of the mean of ``values`` (``scipy.stats.bootstrap``).

    NaN when fewer than two finite values or all values are equal (BCa is undefined there,
    and a zero-width interval would claim a certainty resampling cannot give).
    """
    x = _finite(values)
    if x.size < 2 or np.all(x == x[0]):
        return math.nan, math.nan
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    kw: dict[str, Any] = {"n_resamples": n_resamples, "confidence_level": confidence_level,
                          "method": method, "vectorized": True}
    try:
        res = stats.bootstrap((x,), np.mean, rng=gen, **kw)
    except TypeError:  # scipy < 1.15 names it random_state
        res = stats.bootstrap((x,), np.mean, random_state=gen, **kw)
    ci = res.confidence_interval
    return float(ci.low), float(ci.high)


def paired_pvalues(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[float, float]:
    """(paired t-test p, Wilcoxon signed-rank p), both two-sided, from scipy.

    NaN where the test is undefined: the t-test needs two pairs and some spread in the
    differences; Wilcoxon needs a non-zero difference (zero differences are dropped).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = x - y
    tp = wp = math.nan
    if d.size >= 2 and np.std(d) > 0:
        tp = float(stats.ttest_rel(x, y).pvalue)
    if np.any(d != 0):
        wp = float(stats.wilcoxon(x, y).pvalue)
    return tp, wp


def _predictions(df: pd.DataFrame, predictions: pd.DataFrame | None) -> pd.DataFrame | None:
    """The final models' per-example predictions: given, else read beside the trials the frame
    was loaded from (None where the frame does not say where; an empty frame where none exist)."""
    if predictions is not None:
        return predictions
    if not df.attrs.get("sources"):
        return None
    from ..results.predictions import load_predictions
    return load_predictions(df)


def compare(df: pd.DataFrame, a: str, b: str, metric: str = "test_acc", *,
            n_resamples: int = 9999, confidence_level: float = 0.95, rng: int = 0,
            min_bootstrap: int = MIN_BOOTSTRAP, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Paired comparison of strategies ``a`` and ``b`` on ``metric`` over shared seeds.

    Seeds pair naturally: same data split, same initial model seed. For each
    (experiment, dataset) with both strategies, the differences d = a - b of the
    final models' ``metric`` over the seeds both have give one row:

    * ``n_pairs``, ``mean_a``, ``mean_b``, ``mean_diff``;
    * ``ttest_p`` (paired t-test) and ``wilcoxon_p`` (Wilcoxon signed-rank), always;
    * ``ci_low``/``ci_high``: paired BCa bootstrap interval of the mean difference
      (resampling seeds), only with at least ``min_bootstrap`` pairs; below that both
      are NaN and ``ci_method`` says the bootstrap was withheld and why.

    Beside them, for ``test_acc`` where the final models saved their per-example test
    predictions (``predictions``, else :func:`analysis.load_predictions` of ``df``), the test
    split's own noise (:mod:`.examples`): ``n_rows`` paired (seed, row) predictions, ``n10``
    (a right, b wrong) and ``n01`` (the reverse), ``mcnemar_p`` (exact McNemar on the
    discordant rows summed over seeds; it conditions on the trained models) and
    ``rows_ci_low``/``rows_ci_high``, the hierarchical bootstrap (seeds, then test rows)
    interval of the accuracy difference, withheld below ``min_bootstrap`` seeds.
    ``examples_note`` says which of them there are and why not; without prediction files every
    one is NaN and the seed-level figures stand alone, as before.
    """
    preds = _predictions(df, predictions) if metric == "test_acc" else None
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
        if n < min_bootstrap:
            lo = hi = math.nan
            how = f"withheld: {n} pair{'' if n == 1 else 's'} (the bootstrap needs {min_bootstrap} or more)"
        else:
            lo, hi = bootstrap_interval(d, n_resamples=n_resamples, confidence_level=confidence_level, rng=rng)
            how = "paired BCa bootstrap" if np.isfinite(lo) else "none: every difference is the same"
        tp, wp = paired_pvalues(pair["a"], pair["b"])
        row = {"experiment": exp, "dataset": ds, "a": a, "b": b, "metric": metric, "n_pairs": n,
               "mean_a": float(pair["a"].mean()) if n else math.nan,
               "mean_b": float(pair["b"].mean()) if n else math.nan,
               "mean_diff": float(d.mean()) if n else math.nan,
               "ci_low": lo, "ci_high": hi, "ci_method": how, "wilcoxon_p": wp, "ttest_p": tp}
        row.update(_per_example(preds, str(exp), str(ds), a, b, metric, n_resamples=n_resamples,
                                confidence_level=confidence_level, rng=rng, min_bootstrap=min_bootstrap))
        out.append(row)
    if not out:
        raise ValueError(f"no experiment has final models of both {a!r} and {b!r}")
    return pd.DataFrame(out)


def _per_example(preds: pd.DataFrame | None, exp: str, ds: str, a: str, b: str, metric: str, *,
                 n_resamples: int, confidence_level: float, rng: int, min_bootstrap: int) -> dict[str, Any]:
    """``compare``'s per-example columns for one (experiment, dataset); NaN and a note without."""
    out: dict[str, Any] = {"n_rows": 0, "n10": 0, "n01": 0, "mcnemar_p": math.nan,
                           "rows_ci_low": math.nan, "rows_ci_high": math.nan}
    if metric != "test_acc":
        return {**out, "examples_note": "per-example tests are for test_acc only"}
    if preds is None or preds.empty:
        return {**out, "examples_note": "no per-example predictions (predictions.npz): seed-level tests only"}
    g = preds[(preds["experiment"].astype(str) == exp) & (preds["dataset"].astype(str) == ds)]
    pairs = paired_correctness(g, a, b)
    if not pairs:
        return {**out, "examples_note": "no seed with predictions of both: seed-level tests only"}
    m = mcnemar_exact(pairs)
    out.update(n_rows=m["n_rows"], n10=m["n10"], n01=m["n01"], mcnemar_p=m["mcnemar_p"])
    k = len(pairs)
    if k < min_bootstrap:
        note = (f"exact McNemar over {k} seed{'' if k == 1 else 's'} x test rows; hierarchical interval withheld: "
                f"{k} seed{'' if k == 1 else 's'} (it needs {min_bootstrap} or more)")
    else:
        out["rows_ci_low"], out["rows_ci_high"] = hierarchical_interval(
            pairs, n_resamples=n_resamples, confidence_level=confidence_level, rng=rng)
        note = f"exact McNemar and hierarchical bootstrap over {k} seeds x test rows"
    return {**out, "examples_note": note}
