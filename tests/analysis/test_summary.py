"""summarize / compare / compute_to_quality against the builder's ground truth and scipy."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_experiment, write_trial
from scipy import stats

from analysis.results import ResultsWarning, load_results
from analysis.summary import (anytime_curves, bootstrap_ci, compare, compute_to_quality, format_table,
                              summarize, t_interval)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    exp = write_experiment(tmp_path_factory.mktemp("summary"), seeds=(0, 1, 2, 3, 4, 5, 6))
    return exp, load_results(exp.root)


def test_summary_matches_ground_truth(loaded):
    exp, df = loaded
    s = summarize(df).set_index("strategy")
    assert list(s.index) == sorted(exp.strategies)  # all four strategies, one row each
    cr_total = np.mean([sum(exp.fwd_total[("cross_reg", k)].values()) for k in exp.seeds])
    for strat in exp.strategies:
        r = s.loc[strat]
        for m in ("test_acc", "test_ece", "test_nll"):
            vals = np.array([exp.final_test[(strat, k)][m] for k in exp.seeds])
            assert r[f"{m}_mean"] == pytest.approx(vals.mean(), rel=1e-12)
            if vals.std() > 0:
                lo, hi = stats.t.interval(0.95, len(vals) - 1, loc=vals.mean(), scale=stats.sem(vals))
                assert (r[f"{m}_ci_low"], r[f"{m}_ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
        for c in ("fwd_train", "fwd_reg", "fwd_eval"):
            assert r[c] == pytest.approx(np.mean([exp.fwd_total[(strat, k)][c] for k in exp.seeds]))
        total = np.mean([sum(exp.fwd_total[(strat, k)].values()) for k in exp.seeds])
        assert r["fwd_total"] == pytest.approx(total)
        assert r["cost_vs_cross_reg"] == pytest.approx(total / cr_total)
        assert r["n_trials"] == np.mean([exp.n_trials[(strat, k)] for k in exp.seeds])
        assert r["n_seeds"] == len(exp.seeds) == r["n_final"]
        assert r["status"] == "finished" and r["dataset"] == "mnist1d"
    assert s.loc["cross_reg", "cost_vs_cross_reg"] == 1.0
    # ASHA's stopped trials count in its cost: 3 full trials + 2 stopped after 2 epochs
    assert s.loc["asha", "fwd_train"] == (3 * exp.epochs + 2 * 2) * 900


def test_wall_and_trial_seconds_from_the_raw_files(loaded):
    exp, df = loaded
    s = summarize(df).set_index("strategy")
    for strat in exp.strategies:
        walls, trial_s = [], []
        for k in exp.seeds:
            rows = [json.loads(line) for p in (exp.root / f"{strat}-seed{k}").rglob("result.json")
                    for line in p.read_text().splitlines()]
            walls.append(max(r["timestamp"] for r in rows) - min(r["timestamp"] - r["time_this_iter_s"] for r in rows))
            trial_s.append(sum(r["train_seconds"] for r in rows))
        assert s.loc[strat, "wall_seconds"] == pytest.approx(np.mean(walls))
        assert s.loc[strat, "trial_seconds"] == pytest.approx(np.mean(trial_s))


def test_one_seed_has_nan_interval(tmp_path):
    exp = write_experiment(tmp_path, seeds=(3,))
    s = summarize(load_results(exp.root))
    assert s["test_acc_ci_low"].isna().all() and s["test_acc_mean"].notna().all()
    rows = format_table(s).splitlines()[2:-1]
    assert len(rows) == 4 and not any("±" in r for r in rows)


def test_t_interval_ignores_nan_and_matches_scipy():
    x = [0.7, 0.72, np.nan, 0.69, 0.75]
    m, lo, hi = t_interval(x)
    v = np.array([0.7, 0.72, 0.69, 0.75])
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, 3, loc=v.mean(), scale=stats.sem(v)))
    assert math.isnan(t_interval([0.5])[1]) and math.isnan(t_interval([])[0])


@pytest.mark.parametrize("method", ["BCa", "percentile"])
@pytest.mark.parametrize("data", [
    [0.012, -0.004, 0.021, 0.008, 0.015, -0.001],
    [1.0, 2.0, 2.5, 3.0, 10.0, 0.5, 4.0, 4.1, 3.9, 2.2],
    [0.3, 0.31, 0.29],
])
def test_bootstrap_ci_agrees_with_scipy(data, method):
    ours = bootstrap_ci(data, n_resamples=5000, method=method, rng=np.random.default_rng(42))
    ref = stats.bootstrap((np.array(data),), np.mean, n_resamples=5000, method=method,
                          rng=np.random.default_rng(42), vectorized=True)
    ci = ref.confidence_interval
    assert ours == pytest.approx((ci.low, ci.high), rel=1e-10, abs=1e-12)
    if len(data) > 3:  # a different stream gives a different interval: the match is not luck
        other = bootstrap_ci(data, n_resamples=5000, method=method, rng=np.random.default_rng(7))
        assert other != ours


def test_bootstrap_degenerate_and_tiny():
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert all(math.isnan(v) for v in bootstrap_ci([0.5]))
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], method="basic")


def test_compare_pairs_seeds_and_matches_scipy(loaded):
    exp, df = loaded
    c = compare(df, "cross_reg", "asha", "test_acc").iloc[0]
    a = np.array([exp.final_test[("cross_reg", k)]["test_acc"] for k in exp.seeds])
    b = np.array([exp.final_test[("asha", k)]["test_acc"] for k in exp.seeds])
    assert c["n_pairs"] == 7
    assert c["mean_diff"] == pytest.approx((a - b).mean())
    assert c["wilcoxon_p"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert c["ttest_p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    ref = stats.bootstrap((a - b,), np.mean, n_resamples=9999, rng=np.random.default_rng(0))
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(tuple(ref.confidence_interval), rel=1e-10)
    e = compare(df, "cross_reg", "pbt", "test_ece").iloc[0]
    assert e["metric"] == "test_ece" and e["n_pairs"] == 7
    with pytest.raises(ValueError, match="both"):
        compare(df, "cross_reg", "nonexistent")


def test_compare_skips_wilcoxon_with_few_seeds(experiment):
    c = compare(load_results(experiment.root), "cross_reg", "pbt").iloc[0]
    assert c["n_pairs"] == 3 and math.isnan(c["wilcoxon_p"]) and np.isfinite(c["ci_low"])


def _row(tid, e, ts, val, test, fwd=100):
    return {"trial_id": tid, "training_iteration": e, "epoch": e, "timestamp": ts, "time_this_iter_s": 1.0,
            "val_acc": val, "val_loss": 1 - val, "test_acc": test, "test_ece": 0.1, "test_nll": 1.0,
            "train_loss": 1.0, "test_loss": 1.0, "fwd_train": fwd, "fwd_reg": 0, "fwd_eval": 0,
            "fwd_test": 7, "train_seconds": 1.0, "train_acc": 0.5, "test_brier": 0.3,
            "config": {"dataset": "toy"}}


@pytest.fixture
def hand_made(tmp_path: Path) -> Path:
    """asha: trials A and B interleaved in time; the leader by validation changes hands."""
    run = tmp_path / "hand"
    run.mkdir()
    (run / "metadata.json").write_text(json.dumps({"status": "finished", "experiment": "toy"}))
    rows_a = [_row("A", 1, 101, 0.5, 0.50), _row("A", 2, 103, 0.7, 0.65), _row("A", 3, 105, 0.9, 0.75)]
    rows_b = [_row("B", 1, 102, 0.6, 0.55), _row("B", 2, 104, 0.65, 0.70)]
    write_trial(run / "asha-seed0", "A", rows_a)
    write_trial(run / "asha-seed0", "B", rows_b)
    rows_c = [_row("C", e, 100 + e, 0.5 + 0.1 * e, t, fwd=50) for e, t in ((1, 0.4), (2, 0.6), (3, 0.8))]
    write_trial(run / "cross_reg-seed0", "C", rows_c)
    return run


def test_anytime_curve_by_hand(hand_made):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)
        df = load_results(hand_made)
    cur = anytime_curves(df)
    a = cur[cur["strategy"] == "asha"]
    np.testing.assert_allclose(a["cum_fwd"], [100, 200, 300, 400, 500])
    # A .50 | B leads (.6) .55 | A leads (.7) .65 | B .65 < A .7 still A .65 | A .9 -> .75
    np.testing.assert_allclose(a["value"], [0.50, 0.55, 0.65, 0.65, 0.75])
    c = cur[cur["strategy"] == "cross_reg"]
    np.testing.assert_allclose(c["value"], [0.4, 0.6, 0.8])


def test_anytime_leader_that_gets_worse_is_replaced(tmp_path):
    run = tmp_path / "r"
    write_trial(run / "pbt-seed0", "A", [_row("A", 1, 1, 0.8, 0.8), _row("A", 2, 3, 0.3, 0.3)])
    write_trial(run / "pbt-seed0", "B", [_row("B", 1, 2, 0.6, 0.6), _row("B", 2, 4, 0.6, 0.62)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        cur = anytime_curves(load_results(run))
    np.testing.assert_allclose(cur["value"], [0.8, 0.8, 0.6, 0.62])


def test_anytime_curves_end_on_the_final_model(loaded):
    # ASHA's stopped trials lead by validation while they run (the builder makes them
    # look best), then leave the candidates when stopped: every curve ends on the final model.
    exp, df = loaded
    cur = anytime_curves(df)
    last = cur.groupby(["strategy", "seed"], observed=True)["value"].last()
    for (strat, seed), v in last.items():
        assert v == pytest.approx(exp.final_test[(strat, seed)]["test_acc"]), (strat, seed)
    a0 = cur[(cur["strategy"] == "asha") & (cur["seed"] == 0)]["value"]
    assert a0.max() > a0.iloc[-1]  # the stopped trials did lead for a while


def test_compute_to_quality_by_hand(hand_made):
    df = load_results(hand_made)
    q = compute_to_quality(df, within=1.0).set_index("strategy")
    assert (q["best_strategy"] == "cross_reg").all()
    assert q.loc["asha", "fwd_to_own"] == 500 and math.isnan(q.loc["asha", "fwd_to_best"])
    assert q.loc["asha", "reached_best"] == 0 and q.loc["asha", "reached_own"] == 1
    assert q.loc["cross_reg", "fwd_to_own"] == 150 == q.loc["cross_reg", "fwd_to_best"]
    q10 = compute_to_quality(df, within=10.0).set_index("strategy")
    assert q10.loc["asha", "fwd_to_own"] == 300  # first >= .65
    assert q10.loc["asha", "fwd_to_best"] == 500  # first >= .70


def test_format_table_lists_every_strategy(loaded):
    exp, df = loaded
    s = summarize(df)
    text = format_table(s)
    for strat in exp.strategies:
        assert strat in text
    acc = s.set_index("strategy").loc["cross_reg", "test_acc_mean"] * 100
    assert f"{acc:.1f} ±" in text
    assert "experiment quick" in text and "dataset mnist1d" in text
    assert format_table(pd.DataFrame()) == "(no results)"


def test_unknown_dataset_still_summarises(tmp_path):
    exp = write_experiment(tmp_path, seeds=(0, 1))
    for p in exp.root.rglob("result.json"):
        rows = [json.loads(line) for line in p.read_text().splitlines()]
        for r in rows:
            del r["config"]["dataset"]
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    meta = json.loads((exp.root / "metadata.json").read_text())
    del meta["spec"]["dataset"]
    (exp.root / "metadata.json").write_text(json.dumps(meta))
    df = load_results(exp.root)
    assert set(df["dataset"].astype(str)) == {"unknown"}
    s = summarize(df)
    assert s["test_acc_mean"].notna().all() and (s["status"] == "finished").all()
