"""summarize / compare / compute_to_quality against the builder's ground truth and scipy."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_runs import rewrite_rows, trial_rows, write_experiment, write_trial
from scipy import stats

from analysis.results import ResultsWarning, load_results
from analysis.summary import (
    anytime_curves,
    bootstrap_interval,
    compare,
    compute_to_quality,
    display_table,
    format_table,
    iqm,
    mean_interval,
    summarize,
)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    exp = write_experiment(tmp_path_factory.mktemp("summary"), seeds=(0, 1, 2, 3, 4, 5, 6))
    return exp, load_results(exp.root)


def test_summary_matches_ground_truth(loaded):
    exp, df = loaded
    s = summarize(df, cost="fwd").set_index("strategy")
    assert list(s.index) == sorted(exp.strategies)  # all four strategies, one row each
    cr_total = np.mean([sum(exp.fwd_total[("cross_reg", k)].values()) for k in exp.seeds])
    bounds = {"test_acc": (0, 1), "test_ece": (0, 1), "test_nll": (0, np.inf)}
    for strat in exp.strategies:
        r = s.loc[strat]
        for m in ("test_acc", "test_ece", "test_nll"):
            vals = np.array([exp.final_test[(strat, k)][m] for k in exp.seeds])
            assert r[f"{m}_mean"] == pytest.approx(vals.mean(), rel=1e-12)
            assert r[f"{m}_iqm"] == pytest.approx(stats.trim_mean(vals, 0.25), rel=1e-12)
            if vals.std() > 0:
                lo, hi = np.clip(stats.t.interval(0.95, len(vals) - 1, loc=vals.mean(), scale=stats.sem(vals)),
                                 *bounds[m])
                assert (r[f"{m}_ci_low"], r[f"{m}_ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
        assert r["n_train_final"] == np.mean([exp.final_n_train[(strat, k)] for k in exp.seeds])
        for c in ("fwd_train", "fwd_reg", "fwd_eval"):
            assert r[c] == pytest.approx(np.mean([exp.fwd_total[(strat, k)][c] for k in exp.seeds]))
        total = np.mean([sum(exp.fwd_total[(strat, k)].values()) for k in exp.seeds])
        assert r["fwd_total"] == pytest.approx(total)
        assert r["cost_vs_reference"] == pytest.approx(total / cr_total) and r["cost_reference"] == "cross_reg"
        assert r["n_trials"] == np.mean([exp.n_trials[(strat, k)] for k in exp.seeds])
        assert r["n_seeds"] == len(exp.seeds) == r["n_final"]
        assert r["status"] == "finished" and r["dataset"] == "mnist1d"
    assert s.loc["cross_reg", "cost_vs_reference"] == 1.0
    # grid CV's refit trains on the whole pool; every other final model without the reg split
    assert s.loc["grid_cv", "n_train_final"] > s.loc["cross_reg", "n_train_final"]
    # mean rank by test accuracy within each seed (1 = best), against scipy's rankdata
    ranks = {st: [] for st in exp.strategies}
    for k in exp.seeds:
        accs = [exp.final_test[(st, k)]["test_acc"] for st in exp.strategies]
        for st, rk in zip(exp.strategies, stats.rankdata([-a for a in accs])):
            ranks[st].append(rk)
    for st in exp.strategies:
        assert s.loc[st, "rank_mean"] == pytest.approx(np.mean(ranks[st]))
    assert sum(s["rank_mean"]) == pytest.approx(1 + 2 + 3 + 4)
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
    s = summarize(load_results(exp.root), cost="fwd")
    assert s["test_acc_ci_low"].isna().all() and s["test_acc_mean"].notna().all()
    lines = format_table(s).splitlines()
    rows = lines[2:next(i for i, line in enumerate(lines) if line.startswith("mean ±"))]
    assert len(rows) == 4 and not any("±" in r for r in rows)


def test_mean_interval_ignores_nan_and_matches_scipy():
    x = [0.7, 0.72, np.nan, 0.69, 0.75]
    m, lo, hi = mean_interval(x)
    v = np.array([0.7, 0.72, 0.69, 0.75])
    assert m == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, 3, loc=v.mean(), scale=stats.sem(v)))
    assert math.isnan(mean_interval([0.5])[1]) and math.isnan(mean_interval([])[0])
    assert mean_interval([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize("values, bounds", [
    ([0.99, 0.97, 1.0], (0.0, 1.0)),     # accuracy near 1 with 3 seeds: the t-interval passes 1
    ([0.002, 0.03, 0.001], (0.0, 1.0)),  # ECE near 0: it passes 0
    ([0.01, 0.4, 0.02], (0.0, np.inf)),  # NLL: no upper bound
])
def test_bounded_interval_is_the_t_interval_cut_to_the_range(values, bounds):
    v = np.array(values)
    raw = stats.t.interval(0.95, v.size - 1, loc=v.mean(), scale=stats.sem(v))
    assert raw[0] < bounds[0] or raw[1] > bounds[1]  # the case is real: the raw interval leaves the range
    m, lo, hi = mean_interval(v, bounds=bounds)
    assert (lo, hi) == pytest.approx(tuple(np.clip(raw, *bounds)))
    assert bounds[0] <= lo <= m <= hi <= bounds[1]


def test_three_seeds_never_leave_the_metric_range(tmp_path):
    # seeds whose final accuracy sits near 1 and ECE near 0
    exp = write_experiment(tmp_path, seeds=(0, 1, 2), strategies=("cross_reg", "fixed"))
    for k, (acc, ece) in enumerate([(0.999, 0.001), (0.95, 0.08), (0.998, 0.0005)]):
        for p in (exp.root / f"cross_reg-seed{k}").rglob("result.json"):
            def change(rows, acc=acc, ece=ece):
                rows[-1].update(test_acc=acc, test_ece=ece)
            rewrite_rows(p, change)
    s = summarize(load_results(exp.root)).set_index("strategy")
    for m in ("test_acc", "test_ece"):
        assert (s[f"{m}_ci_low"] >= 0).all() and (s[f"{m}_ci_high"] <= 1).all(), m
    assert s.loc["cross_reg", "test_acc_ci_high"] == 1.0 and s.loc["cross_reg", "test_ece_ci_low"] == 0.0
    line = next(r for r in format_table(s.reset_index()).splitlines() if r.lstrip().startswith("cross_reg"))
    assert "+" in line and "/-" in line  # a cut interval shows both of its sides


@pytest.mark.parametrize("data", [
    [0.012, -0.004, 0.021, 0.008, 0.015, -0.001],
    [1.0, 2.0, 2.5, 3.0, 10.0, 0.5, 4.0, 4.1, 3.9, 2.2],
])
def test_bootstrap_interval_is_scipys(data):
    ours = bootstrap_interval(data, n_resamples=5000, rng=np.random.default_rng(42))
    ref = stats.bootstrap((np.array(data),), np.mean, n_resamples=5000, rng=np.random.default_rng(42))
    assert ours == pytest.approx(tuple(ref.confidence_interval), rel=1e-10, abs=1e-12)
    assert bootstrap_interval(data, n_resamples=5000, rng=np.random.default_rng(7)) != ours


def test_bootstrap_degenerate_and_tiny_give_no_interval():
    assert all(math.isnan(v) for v in bootstrap_interval([0.5, 0.5, 0.5]))
    assert all(math.isnan(v) for v in bootstrap_interval([0.5, np.nan]))


def test_iqm_is_scipys_trimmed_mean():
    x = [0.1, 0.5, 0.52, 0.55, 0.6, 0.61, 0.62, 0.99]
    assert iqm(x) == pytest.approx(stats.trim_mean(x, 0.25))
    assert iqm(x) == pytest.approx(np.mean(sorted(x)[2:6]))  # the middle half
    assert iqm([np.nan, 0.3]) == 0.3 and math.isnan(iqm([]))


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


def test_compare_withholds_the_bootstrap_below_five_seeds(experiment):
    exp = experiment
    c = compare(load_results(exp.root), "cross_reg", "pbt").iloc[0]
    a = np.array([exp.final_test[("cross_reg", k)]["test_acc"] for k in exp.seeds])
    b = np.array([exp.final_test[("pbt", k)]["test_acc"] for k in exp.seeds])
    assert c["n_pairs"] == 3
    assert math.isnan(c["ci_low"]) and math.isnan(c["ci_high"]) and "withheld" in c["ci_method"]
    assert c["ttest_p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert c["wilcoxon_p"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert c["wilcoxon_p"] >= 2 / 2**3  # what 3 seeds can show at best


def test_compare_bootstraps_from_five_seeds(tmp_path):
    exp = write_experiment(tmp_path, seeds=(0, 1, 2, 3, 4), strategies=("cross_reg", "asha"))
    c = compare(load_results(exp.root), "cross_reg", "asha").iloc[0]
    d = np.array([exp.final_test[("cross_reg", k)]["test_acc"] - exp.final_test[("asha", k)]["test_acc"]
                  for k in exp.seeds])
    ref = stats.bootstrap((d,), np.mean, n_resamples=9999, rng=np.random.default_rng(0))
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(tuple(ref.confidence_interval), rel=1e-10)
    assert c["ci_method"] == "paired BCa bootstrap"


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
    cur = anytime_curves(df, cost="fwd")
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
        cur = anytime_curves(load_results(run), cost="fwd")
    np.testing.assert_allclose(cur["value"], [0.8, 0.8, 0.6, 0.62])


def test_anytime_curves_end_on_the_final_model(loaded):
    # ASHA's stopped trials lead by validation while they run (the builder makes them
    # look best), then leave the candidates when stopped: every curve ends on the final model.
    exp, df = loaded
    cur = anytime_curves(df, cost="fwd")
    last = cur.groupby(["strategy", "seed"], observed=True)["value"].last()
    for (strat, seed), v in last.items():
        assert v == pytest.approx(exp.final_test[(strat, seed)]["test_acc"]), (strat, seed)
    a0 = cur[(cur["strategy"] == "asha") & (cur["seed"] == 0)]["value"]
    assert a0.max() > a0.iloc[-1]  # the stopped trials did lead for a while


def test_compute_to_quality_by_hand(hand_made):
    df = load_results(hand_made)
    q = compute_to_quality(df, within=1.0, cost="fwd").set_index("strategy")
    assert (q["best_strategy"] == "cross_reg").all()
    assert q.loc["asha", "fwd_to_own"] == 500 and math.isnan(q.loc["asha", "fwd_to_best"])
    assert q.loc["asha", "reached_best"] == 0 and q.loc["asha", "reached_own"] == 1
    assert q.loc["cross_reg", "fwd_to_own"] == 150 == q.loc["cross_reg", "fwd_to_best"]
    q10 = compute_to_quality(df, within=10.0, cost="fwd").set_index("strategy")
    assert q10.loc["asha", "fwd_to_own"] == 300  # first >= .65
    assert q10.loc["asha", "fwd_to_best"] == 500  # first >= .70


def test_compute_to_quality_knows_lower_is_better(hand_made):
    # Same curves read as a loss: test_acc values rewritten into test_nll. Lower is better now,
    # so the best strategy is asha (final .75 < cross_reg's .8) and targets are reached from above.
    for p in hand_made.rglob("result.json"):
        def change(rows):
            for r in rows:
                r["test_nll"] = r["test_acc"]
        rewrite_rows(p, change)
    df = load_results(hand_made)
    q = compute_to_quality(df, within=1.0, metric="test_nll", cost="fwd").set_index("strategy")
    assert (q["best_strategy"] == "asha").all() and (q["mode"] == "min").all()
    # asha's curve .50 .55 .65 .65 .75: its own final .75 is first matched (<= .76) at the first row
    assert q.loc["asha", "fwd_to_own"] == 100 and q.loc["asha", "fwd_to_best"] == 100
    # cross_reg .4 .6 .8: within .01 of asha's .75 (<= .76) already at its first point
    assert q.loc["cross_reg", "fwd_to_best"] == 50 and q.loc["cross_reg", "fwd_to_own"] == 50
    q_acc = compute_to_quality(df, within=1.0, metric="test_acc", cost="fwd").set_index("strategy")
    assert (q_acc["best_strategy"] == "cross_reg").all() and (q_acc["mode"] == "max").all()


def test_compute_to_quality_refuses_an_unknown_metric(hand_made):
    df = load_results(hand_made)
    with pytest.raises(ValueError, match="unknown metric 'test_f1'"):
        compute_to_quality(df, metric="test_f1")


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


def test_a_regression_is_judged_by_its_test_loss(tmp_path):
    """Ridge and lasso have no accuracy: their final models count, rank and show by MSE."""

    run = tmp_path / "ridge-run"
    run.mkdir()
    (run / "metadata.json").write_text(json.dumps({
        "experiment": "ridge", "status": "finished", "seeds": [0, 1], "strategies": ["a", "b"],
        "spec": {"name": "ridge", "dataset": "synthetic-regression", "epochs": 3}}))
    mse = {("a", 0): 0.30, ("a", 1): 0.40, ("b", 0): 0.50, ("b", 1): 0.20}
    for (strategy, seed), loss in mse.items():
        rows = trial_rows(trial_id=f"{strategy}{seed}", strategy=strategy, seed=seed, epochs=3,
                          quality=0.5, role="single", config={"dataset": "synthetic-regression"},
                          experiment="ridge")
        for r in rows:
            r.update(test_acc=float("nan"), val_acc=float("nan"), test_ece=float("nan"),
                     test_brier=float("nan"), train_acc=float("nan"))
        rows[-1]["test_loss"] = loss
        write_trial(run / f"{strategy}-seed{seed}", f"t_{strategy}{seed}", rows)
    table = summarize(load_results(run)).set_index("strategy")
    assert list(table["n_final"]) == [2, 2]
    assert table.loc["a", "test_loss_mean"] == pytest.approx(0.35)
    assert list(table["rank_mean"]) == [1.5, 1.5]  # a wins seed 0, b wins seed 1
    header = format_table(table.reset_index()).splitlines()[1]
    assert "test MSE" in header and "test acc" not in header
    assert "0.3500" in format_table(table.reset_index())


def test_noise_off_metrics_and_n_train_are_reported_as_they_are(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg", "fixed"), seeds=(0, 1, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = load_results(exp.root)
    for c in ("test_acc_det", "test_ece_det", "test_nll_det", "observe_seconds"):
        assert old[c].dtype == np.float64 and old[c].isna().all()  # absent: NaN, silently
    det = {0: 0.61, 1: 0.64, 2: 0.70}
    for k, v in det.items():
        [p] = (exp.root / f"cross_reg-seed{k}").glob("*/result.json")
        rewrite_rows(p, lambda rows, v=v: rows[-1].update(test_acc_det=v, test_ece_det=0.1, test_nll_det=1.0,
                                                          observe_seconds=0.2))
    [p] = (exp.root / "fixed-seed2").glob("*/result.json")
    rewrite_rows(p, lambda rows: [r.update(n_train=1000) for r in rows])  # one seed trained on more rows
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        df = load_results(exp.root)
    assert not [w for w in rec if "test_acc_det" in str(w.message)]
    assert df["test_acc_det"].dtype == np.float64 and df["test_acc_det"].notna().sum() == 3
    s = summarize(df, cost="fwd").set_index("strategy")
    x = np.array(list(det.values()))
    lo, hi = stats.t.interval(0.95, 2, loc=x.mean(), scale=stats.sem(x))
    assert s.loc["cross_reg", "test_acc_det_mean"] == pytest.approx(x.mean())
    assert (s.loc["cross_reg", "test_acc_det_ci_low"], s.loc["cross_reg", "test_acc_det_ci_high"]) == \
        pytest.approx((lo, hi))
    assert math.isnan(s.loc["fixed", "test_acc_det_mean"])
    assert (s.loc["fixed", "n_train_min"], s.loc["fixed", "n_train_max"]) == (900, 1000)
    assert s.loc["cross_reg", "n_train_min"] == s.loc["cross_reg", "n_train_max"] == 900
    shown = display_table(s.reset_index()).set_index("strategy")
    assert shown.loc["fixed", "n train"] == "900-1000" and shown.loc["cross_reg", "n train"] == "900"
    assert shown.loc["cross_reg", "acc det %"].startswith("65.0") and shown.loc["fixed", "acc det %"] == "-"
    assert "acc det %" not in display_table(summarize(old, cost="fwd"))  # narrow where absent
