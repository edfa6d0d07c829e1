"""Paired statistics on the final models' per-example test predictions: the test split's noise.

Every seed scores on the same test rows, so a seed-level test (``compare``'s t-test, Wilcoxon
and BCa interval over seeds) sees the training seed's variance but not the sampling noise of a
finite test split. Two figures add it, from :func:`analysis.load_predictions`' frame:

* **Exact McNemar test**, pooled over seeds. Within a seed the two final models are paired on
  each test row (correct / wrong each); only discordant rows (one right, the other wrong)
  carry information, and under H0 ("on each row, given that exactly one of the two is right,
  either is equally likely") each discordant row's direction is a fair coin. Summing the
  discordant counts over seeds and testing ``n10`` against Binomial(``n01 + n10``, 1/2) is the
  exact conditional test with each (seed, row) pair as its own stratum, which for 1:1 matched
  pairs is both the "pooled" and the "stratified by seed" McNemar test (the stratified
  Mantel-Haenszel / conditional likelihood for a common odds ratio of 1 reduces to it): there
  is one statistic, not two to choose from. ``scipy.stats.binomtest`` computes it (equal to
  ``statsmodels``' ``mcnemar(table, exact=True)``). What it does NOT see: it conditions on the
  trained models, so it asks whether these models differ on the test population, not whether
  the methods would differ over new training seeds; that is the seed-level tests' question and
  the hierarchical interval's.
* **Hierarchical bootstrap interval** of the accuracy difference: resample seeds (paired: a
  seed brings both models), then test rows (paired: a row brings both predictions), and take
  the mean difference over the drawn (seed, row) cells; percentile interval. Both sources of
  noise enter. The seeds share the test rows (a crossed design), so one draw of rows serves
  every drawn seed of a resample: a row that is hard for one model in every seed is one row
  of evidence, not one per seed. The interval lies in [-1, 1] by construction. Withheld below
  ``min_bootstrap`` seeds (as the seed-level bootstrap is): with 3 seeds there are 10 distinct
  seed resamples and the interval would be far too narrow.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


def paired_correctness(pred: pd.DataFrame, a: str, b: str) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """Per (run, seed) both strategies have: (a correct, b correct) on the test rows both scored,
    aligned by ``index``. ``pred``: one (experiment, dataset)'s rows of ``load_predictions``."""
    out: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    keyed = pred.assign(correct=pred["pred"].to_numpy() == pred["label"].to_numpy())
    pa = keyed[keyed["strategy"].astype(str) == a]
    pb = keyed[keyed["strategy"].astype(str) == b]
    for (run, seed), ga in pa.groupby(["run", "seed"], sort=True):
        gb = pb[(pb["run"] == run) & (pb["seed"] == seed)]
        if gb.empty:
            continue
        m = ga[["index", "correct"]].merge(gb[["index", "correct"]], on="index", suffixes=("_a", "_b"))
        if len(m):
            out[(str(run), int(seed))] = (m["correct_a"].to_numpy(dtype=bool), m["correct_b"].to_numpy(dtype=bool))
    return out


def mcnemar_exact(pairs: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Exact McNemar test pooled over seeds (module doc): discordant counts ``n10`` (a right, b
    wrong) and ``n01``, the 2x2 table ``[[n11, n10], [n01, n00]]`` summed over seeds, and the
    two-sided p-value of ``scipy.stats.binomtest(n10, n10 + n01, 0.5)``; 1.0 without a
    discordant row (nothing tells the models apart)."""
    n11 = n10 = n01 = n00 = 0
    for ca, cb in pairs.values():
        n11 += int(np.sum(ca & cb))
        n10 += int(np.sum(ca & ~cb))
        n01 += int(np.sum(~ca & cb))
        n00 += int(np.sum(~ca & ~cb))
    p = float(stats.binomtest(n10, n10 + n01, 0.5).pvalue) if n10 + n01 else 1.0
    return {"n_rows": n11 + n10 + n01 + n00, "n10": n10, "n01": n01, "table": [[n11, n10], [n01, n00]],
            "mcnemar_p": p}


def hierarchical_interval(pairs: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]], *,
                          n_resamples: int = 4000, confidence_level: float = 0.95,
                          rng: int | np.random.Generator | None = 0) -> tuple[float, float]:
    """Percentile interval of the mean accuracy difference a - b, resampling seeds and then test
    rows (module doc). NaN with fewer than two seeds: one seed's spread over training seeds is
    unknown, and a rows-only interval would claim more than it shows.

    The seeds score the same test rows (``pairs`` aligned by ``index``; the rows every seed
    has): one draw of rows serves every drawn seed of a resample. Drawing rows apart per seed
    would treat a row that is hard for b in every seed as ten independent rows, and the
    interval would be too narrow.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    k = len(pairs)
    if k < 2:
        return math.nan, math.nan
    diffs = list(pairs.values())
    n = min(ca.size for ca, _ in diffs)
    if any(ca.size != n for ca, _ in diffs):
        return math.nan, math.nan  # seeds scored different rows: no common row to draw
    d = np.stack([ca.astype(np.float64) - cb.astype(np.float64) for ca, cb in diffs])  # seeds x rows
    means = np.empty(n_resamples)
    chunk = max(1, min(n_resamples, 2_000_000 // max(n, 1)))
    for start in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - start)
        seeds = np.stack([np.bincount(r, minlength=k) for r in gen.integers(0, k, size=(m, k))])  # m x k
        rows = gen.multinomial(n, np.full(n, 1.0 / n), size=m)  # m x n: how often each row is drawn
        means[start:start + m] = np.einsum("bi,bi->b", rows, seeds @ d) / (k * n)
    alpha = 1.0 - confidence_level
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(np.clip(lo, -1.0, 1.0)), float(np.clip(hi, -1.0, 1.0))


__all__ = ["hierarchical_interval", "mcnemar_exact", "paired_correctness"]
