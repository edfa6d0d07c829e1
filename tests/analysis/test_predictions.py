"""Per-example test predictions: loading the final models' files, exact McNemar, hierarchical bootstrap."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from fake_runs import write_experiment
from statsmodels.stats.contingency_tables import mcnemar

import analysis
from analysis.contract import PREDICTIONS_FILE
from analysis.results import load_results
from analysis.summary import compare
from analysis.summary.examples import hierarchical_interval

N_ROWS = 400
SEEDS = (0, 1, 2, 3, 4, 5)


def _write_predictions(exp, rng, acc=None):
    """A predictions.npz in each final trial's folder (and a decoy in a non-final one)."""
    acc = acc or {"cross_reg": 0.75, "fixed": 0.70}
    label = rng.integers(0, 10, N_ROWS)
    truth = {}
    for (strategy, seed), tid in exp.expected_final.items():
        correct = rng.random(N_ROWS) < acc[strategy]
        pred = np.where(correct, label, (label + 1) % 10)
        conf = rng.uniform(0.5, 1.0, N_ROWS)
        d = next((exp.root / f"{strategy}-seed{seed}").glob(f"train_{tid}_*"))
        np.savez(d / PREDICTIONS_FILE, index=np.arange(N_ROWS)[::-1], label=label[::-1], pred=pred[::-1],
                 confidence=conf[::-1], p_true=np.where(correct, conf, 0.01)[::-1])
        truth[(strategy, seed)] = correct
    return truth


def _load(root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_results(root)


@pytest.fixture(scope="module")
def with_predictions(tmp_path_factory):
    exp = write_experiment(tmp_path_factory.mktemp("preds"), strategies=("cross_reg", "fixed"), seeds=SEEDS)
    truth = _write_predictions(exp, np.random.default_rng(0))
    return exp, truth, _load(exp.root)


def test_load_predictions_reads_the_final_models_files(with_predictions):
    exp, truth, df = with_predictions
    p = analysis.load_predictions(df)
    assert list(p.columns) == ["run", "experiment", "dataset", "strategy", "seed", "trial_id", "index", "label",
                               "pred", "confidence", "p_true"]
    assert len(p) == N_ROWS * len(SEEDS) * 2 and not p.attrs["missing"]
    for (strategy, seed), correct in truth.items():
        g = p[(p["strategy"] == strategy) & (p["seed"] == seed)].sort_values("index")
        assert (g["trial_id"] == exp.expected_final[(strategy, seed)]).all()
        np.testing.assert_array_equal(g["pred"].to_numpy() == g["label"].to_numpy(), correct)
    pd.testing.assert_frame_equal(analysis.load_predictions(exp.root), p)  # a path reads the same


def test_mcnemar_equals_statsmodels_on_the_pooled_table(with_predictions):
    _, truth, df = with_predictions
    c = compare(df, "cross_reg", "fixed", "test_acc").iloc[0]
    n11 = n10 = n01 = n00 = 0
    for k in SEEDS:
        a, b = truth[("cross_reg", k)], truth[("fixed", k)]
        n11 += np.sum(a & b)
        n10 += np.sum(a & ~b)
        n01 += np.sum(~a & b)
        n00 += np.sum(~a & ~b)
    table = np.array([[n11, n10], [n01, n00]])
    assert (c["n10"], c["n01"], c["n_rows"]) == (n10, n01, N_ROWS * len(SEEDS))
    assert c["mcnemar_p"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert -1 <= c["rows_ci_low"] < c["rows_ci_high"] <= 1
    assert "hierarchical bootstrap over 6 seeds" in c["examples_note"]
    # the seed-level figures are what they were
    assert c["n_pairs"] == len(SEEDS) and np.isfinite(c["ttest_p"])


def test_without_prediction_files_compare_is_as_before_and_says_so(tmp_path, with_predictions):
    exp = write_experiment(tmp_path, strategies=("cross_reg", "fixed"), seeds=SEEDS)
    df = _load(exp.root)
    c = compare(df, "cross_reg", "fixed", "test_acc").iloc[0]
    assert math.isnan(c["mcnemar_p"]) and math.isnan(c["rows_ci_low"]) and c["n_rows"] == 0
    assert "seed-level tests only" in c["examples_note"]
    assert analysis.load_predictions(df).attrs["missing"]  # every final model is named
    ece = compare(with_predictions[2], "cross_reg", "fixed", "test_ece").iloc[0]
    assert math.isnan(ece["mcnemar_p"]) and "test_acc only" in ece["examples_note"]


def test_few_seeds_withhold_the_hierarchical_interval(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg", "fixed"), seeds=(0, 1, 2))
    _write_predictions(exp, np.random.default_rng(3))
    c = compare(_load(exp.root), "cross_reg", "fixed").iloc[0]
    assert np.isfinite(c["mcnemar_p"]) and math.isnan(c["rows_ci_low"]) and "withheld" in c["examples_note"]


def _simulate(rng, k, n):
    """Seeds share the test rows: row i is right for a with p_a[i], for b with p_b[i], moved by a
    seed effect. Population difference: E[p_a - p_b] = 0.065 (closed form below)."""
    pa = np.where(rng.random(n) < 0.6, 0.95, 0.4)
    pb = np.clip(pa - np.where(rng.random(n) < 0.5, 0.2, -0.1), 0, 1)
    pairs = {}
    for s in range(k):
        u, e = rng.normal(0, 0.02), rng.normal(0, 0.01)
        pairs[("r", s)] = (rng.random(n) < np.clip(pa + u, 0, 1), rng.random(n) < np.clip(pb + u + e, 0, 1))
    return pairs


TRUE_DIFF = (0.6 * 0.95 + 0.4 * 0.4) - (0.6 * (0.5 * 0.75 + 0.5 * 1.0) + 0.4 * (0.5 * 0.2 + 0.5 * 0.5))


def test_hierarchical_interval_covers_the_true_difference_and_narrows_with_rows():
    rng = np.random.default_rng(7)
    hits, widths = 0, []
    n_sim = 60
    for i in range(n_sim):
        lo, hi = hierarchical_interval(_simulate(rng, 10, 400), n_resamples=500, rng=i)
        hits += lo <= TRUE_DIFF <= hi
        widths.append(hi - lo)
    assert hits / n_sim >= 0.85  # nominal 95%; binomial slack for 60 draws
    wide = [hierarchical_interval(_simulate(rng, 10, 8000), n_resamples=500, rng=i) for i in range(5)]
    assert np.mean([hi - lo for lo, hi in wide]) < 0.5 * np.mean(widths)
    # in bounds even at the edge: a always right, b always wrong
    one = {("r", s): (np.ones(50, bool), np.zeros(50, bool)) for s in range(6)}
    assert hierarchical_interval(one) == (1.0, 1.0)
    assert all(math.isnan(v) for v in hierarchical_interval({("r", 0): one[("r", 0)]}))  # one seed: none
