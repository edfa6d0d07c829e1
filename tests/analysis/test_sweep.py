"""Budget sweeps: variants, Pareto front and cost to match, on fake sweeps with known answers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from fake_runs import rewrite_rows, write_experiment, write_sweep
from scipy import stats

from analysis.results import ResultsWarning, load_results
from analysis.summary import (
    budget_text,
    cost_to_match,
    curve_cost,
    format_sweep,
    pareto_front,
    replicate_table,
    sweep_summary,
)
from analysis.summary.sweep import selection_scores

SEEDS = (0, 1, 2)
P4_COST = {0: 4000, 1: 8000, 2: 16000}
ASHA = {0: 0.75, 1: 0.74, 2: 0.85}
CR10 = {0: 0.70, 1: 0.72, 2: 0.71}
VARIANTS = {
    "cross_reg.r10K4": ("cross_reg", {"r": 10, "K": 4}, {k: (CR10[k], 300) for k in SEEDS}),
    "cross_reg.r1K4": ("cross_reg", {"r": 1, "K": 4}, {k: (0.80, 1000) for k in SEEDS}),
    "pbt.P2": ("pbt", {"pbt_population": 2}, {k: (0.70, 1000) for k in SEEDS}),
    "pbt.P3": ("pbt", {"pbt_population": 3}, {k: (0.60, 2000) for k in SEEDS}),  # a dip: the running best holds
    "pbt.P4": ("pbt", {"pbt_population": 4}, {k: (0.90, P4_COST[k]) for k in SEEDS}),
    "asha.N4": ("asha", {"asha_samples": 4}, {k: (ASHA[k], 500) for k in SEEDS}),
}


def _load(run):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)  # a sweep loads cleanly
        return load_results(run)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return _load(write_sweep(tmp_path_factory.mktemp("sweep"), VARIANTS))


def _geo(ratios, level=0.95):
    """Oracle: geometric mean and the exp of scipy's t-interval of the mean log ratio."""
    x = np.log(np.asarray(ratios, dtype=float))
    lo, hi = stats.t.interval(level, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    return math.exp(x.mean()), math.exp(lo), math.exp(hi)


@pytest.mark.parametrize("costs, values, target, mode, want", [
    ([1000, 4000], [0.7, 0.9], 0.8, "max", (2000.0, False)),          # half-way in log cost: sqrt(1000 * 4000)
    ([1000, 2000, 4000], [0.7, 0.6, 0.9], 0.8, "max", (2000 * 2 ** 0.5, False)),  # running best: from (2000, .7)
    ([4000, 1000, 2000], [0.9, 0.7, 0.6], 0.8, "max", (2000 * 2 ** 0.5, False)),  # any order in
    ([100, 1000], [0.5, 0.9], 0.6, "max", (100 * 10 ** 0.25, False)),  # a quarter of the way: 10^(2.25)
    ([1000, 4000], [0.7, 0.75], 0.8, "max", (math.nan, False)),         # never reached: no extrapolation
    ([1000, 4000], [0.85, 0.9], 0.8, "max", (1000.0, True)),            # the cheapest already: an upper bound
    ([1000, 4000], [0.3, 0.1], 0.2, "min", (2000.0, False)),            # lower is better
    ([1000, 1000, 4000], [0.7, 0.9, 0.95], 0.8, "max", (1000.0, True)),  # a tie in cost: the better first
    ([0, -5, 1000, np.nan, 4000], [0.99, 0.99, 0.7, 0.99, 0.9], 0.8, "max", (2000.0, False)),  # unusable points
    ([1000, 4000], [0.7, 0.9], 0.9, "max", (4000.0, False)),            # exactly a point's value
])
def test_curve_cost_closed_forms(costs, values, target, mode, want):
    got = curve_cost(costs, values, target, mode)
    assert got[1] is want[1]
    if math.isnan(want[0]):
        assert math.isnan(got[0])
    else:
        assert got[0] == pytest.approx(want[0], rel=1e-12)


def test_sweep_summary_has_one_row_per_variant_with_method_and_budget(sweep):
    s = sweep_summary(sweep).set_index("strategy")
    assert sorted(s.index) == sorted(VARIANTS)
    for v, (method, budget, per) in VARIANTS.items():
        assert s.loc[v, "method"] == method
        assert s.loc[v, "budget"] == ", ".join(f"{k}={x}" for k, x in budget.items())
        assert s.loc[v, "test_acc_mean"] == pytest.approx(np.mean([per[k][0] for k in SEEDS]))
        assert s.loc[v, "fwd_total"] == pytest.approx(np.mean([per[k][1] for k in SEEDS]))
        assert s.loc[v, "flops_total"] == pytest.approx(3 * s.loc[v, "fwd_total"])
        assert s.loc[v, "cost_vs_reference"] == pytest.approx(s.loc[v, "fwd_total"] / 1000)
    assert (s["cost_reference"] == "cross_reg.r1K4").all()  # the sweep's reference, not "cross_reg"
    assert list(s.index[s["is_reference"]]) == ["cross_reg.r1K4"]
    assert sorted(s.index[s["pareto"]]) == ["asha.N4", "cross_reg.r10K4", "cross_reg.r1K4", "pbt.P4"]


@pytest.mark.parametrize("budget, text", [
    ({}, "-"), ({"pbt_population": 4}, "pbt_population=4"), ({"r": 10, "K": 4}, "r=10, K=4"),
    ({"grid_values": [0.01, 0.1, 1.0, 3.0]}, "grid_values=4 in [0.01, 3]"),
    ({"grid_values": [0.5, 2.0]}, "grid_values=[0.5, 2]"), ({"lr": 0.0012345}, "lr=0.00123"),
    ({"families": ["noise", "l2", "augment"]}, "families=3 in [noise, augment]"),
])
def test_budget_text(budget, text):
    assert budget_text(budget) == text


def test_pareto_front_by_hand():
    t = pd.DataFrame({"strategy": list("abcdef"), "fwd_total": [1, 2, 2, 3, 3, np.nan],
                      "test_acc_mean": [0.5, 0.6, 0.6, 0.55, 0.7, 0.99],
                      "test_ece_mean": [0.10, 0.05, 0.05, 0.20, 0.01, 0.0]})
    # b and c tie (neither beats the other: both stay); d is beaten by b; f has no known cost
    assert list(pareto_front(t, cost="fwd")["strategy"]) == ["a", "b", "c", "e"]
    assert list(pareto_front(t, cost="fwd", metric="test_ece")["strategy"]) == ["a", "b", "c", "e"]
    assert pareto_front(t).empty  # FLOPs by default: this summary has none
    t.loc[4, "test_ece_mean"] = 0.3  # e now worse on ECE than a cheaper b
    assert list(pareto_front(t, cost="fwd", metric="test_ece")["strategy"]) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="unknown metric"):
        pareto_front(t, cost="fwd", metric="test_f1")


def test_cost_to_match_known_answers(sweep):
    c = cost_to_match(sweep).set_index("method")
    assert (c["reference"] == "cross_reg.r1K4").all() and (c["n_seeds"] == 3).all()
    # pbt: the curve crosses .80 half-way in log cost between (2000, best .70) and (P4 cost, .90)
    pbt = [math.sqrt(2000 * P4_COST[k]) / 1000 for k in SEEDS]
    want = _geo(pbt)
    got = c.loc["pbt", ["match_ratio", "match_ci_low", "match_ci_high"]].to_numpy(dtype=float)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert c.loc["pbt", "match_reached"] == 3 and c.loc["pbt", "match_not_reached"] == 0
    assert c.loc["pbt", "match_note"] == ""
    # reverse: cross-reg's curve tops out at .80, short of pbt's .90 in every seed
    assert math.isnan(c.loc["pbt", "reverse_ratio"]) and c.loc["pbt", "reverse_not_reached"] == 3
    assert "not reached in any of 3 seeds" in c.loc["pbt", "reverse_note"]
    # asha reaches .80 only in seed 2, with its only (cheapest) variant: an upper bound, no interval
    assert c.loc["asha", "match_ratio"] == pytest.approx(0.5)
    assert math.isnan(c.loc["asha", "match_ci_low"]) and math.isnan(c.loc["asha", "match_ci_high"])
    assert (c.loc["asha", "match_reached"], c.loc["asha", "match_not_reached"], c.loc["asha", "match_upper_bound"]) \
        == (1, 2, 1)
    assert "no interval" in c.loc["asha", "match_note"] and "not reached in 2 of 3" in c.loc["asha", "match_note"]
    # reverse for asha: cross-reg's (300, .7x) -> (1000, .80) reaches .75 and .74, not .85
    rev = [math.exp(math.log(300) + (ASHA[k] - CR10[k]) / (0.80 - CR10[k]) * math.log(1000 / 300)) / 500
           for k in (0, 1)]
    got = c.loc["asha", ["reverse_ratio", "reverse_ci_low", "reverse_ci_high"]].to_numpy(dtype=float)
    np.testing.assert_allclose(got, _geo(rev), rtol=1e-10)
    assert c.loc["asha", "reverse_reached"] == 2 and c.loc["asha", "reverse_not_reached"] == 1
    # cross_reg's own curve reaches its reference at the reference; no reverse of itself
    assert c.loc["cross_reg", "match_ratio"] == pytest.approx(1.0)
    assert c.loc["cross_reg", "reverse_note"] == "the reference's own method"
    per = cost_to_match(sweep, cost="fwd", per_seed=True)
    p = per[per["method"] == "pbt"].sort_values("seed")
    np.testing.assert_allclose(p["match_cost"], [math.sqrt(2000 * P4_COST[k]) for k in SEEDS], rtol=1e-12)


def test_cost_to_match_on_other_axes_and_levels(sweep):
    # FLOPs are 3 x the forward passes for every variant: the same ratios
    f = cost_to_match(sweep, cost="flops").set_index("method")
    w = cost_to_match(sweep, cost="fwd").set_index("method")
    np.testing.assert_allclose(f["match_ratio"], w["match_ratio"], rtol=1e-12)
    assert (f["cost_axis"] == "flops").all()
    # device seconds are equal for every variant: pbt's P4 is as cheap as the reference (ties: better first)
    d = cost_to_match(sweep, cost="device_seconds").set_index("method")
    assert d.loc["pbt", "match_ratio"] == pytest.approx(1.0) and d.loc["pbt", "match_upper_bound"] == 3
    lo90 = cost_to_match(sweep, confidence_level=0.9).set_index("method").loc["pbt", "match_ci_low"]
    assert lo90 > w.loc["pbt", "match_ci_low"]  # a narrower interval


def test_reference_choices_and_refusals(tmp_path, sweep):
    c = cost_to_match(sweep, reference="cross_reg.r10K4").set_index("method")
    assert (c["reference"] == "cross_reg.r10K4").all()
    # pbt's cheapest variant (1000, .70) already beats r10K4's .70/.72/.71 in seed 0 only
    assert c.loc["pbt", "match_upper_bound"] == 1
    with pytest.raises(ValueError, match="'nope' is not among the strategies"):
        cost_to_match(sweep, reference="nope")
    bare = _load(write_sweep(tmp_path, {k: v for k, v in VARIANTS.items() if k.startswith("pbt")}, listed=False))
    with pytest.raises(ValueError, match="no reference to match"):
        cost_to_match(bare)
    s = sweep_summary(bare)
    assert list(s["method"]) == list(s["strategy"]) and (s["budget"] == "-").all()  # each its own method


def test_a_plain_run_is_a_sweep_of_one_budget_each(tmp_path):
    exp = write_experiment(tmp_path, seeds=(0, 1), strategies=("cross_reg", "pbt", "asha"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        df = load_results(exp.root)
    c = cost_to_match(df).set_index("method")
    assert (c["reference"] == "cross_reg").all() and set(c.index) == {"cross_reg", "pbt", "asha"}
    s = sweep_summary(df).set_index("strategy")
    assert s.loc["cross_reg", "is_reference"] and s.loc["pbt", "budget"] == "-"


def test_format_sweep_shows_both_tables(sweep):
    text = format_sweep(sweep)
    assert "sweep quick" in text and "cost to match (x ref)" in text and "reverse (x method)" in text
    for v in VARIANTS:
        assert v in text
    pbt = next(line for line in text.splitlines() if line.lstrip().startswith("pbt cross_reg.r1K4"))
    r, lo, hi = _geo([math.sqrt(2000 * P4_COST[k]) / 1000 for k in SEEDS])
    assert f"{r:.2f} [{lo:.2f}, {hi:.2f}]" in pbt and "3/3" in pbt
    assert "*R" in next(line for line in text.splitlines() if "cross_reg.r1K4" in line and "r=1" in line)


@pytest.mark.parametrize("values, scores, want", [
    ([0.7, 0.9], [0.9, 0.6], (math.nan, False)),    # validation keeps the cheap variant: .9 on test is never chosen
    ([0.7, 0.9], [0.5, 0.6], (2000.0, False)),      # validation moves to the dear one: as the running best
    ([0.9, 0.7], [0.5, 0.6], (1000.0, True)),       # the cheapest already reaches it when it is chosen
    ([0.7, np.nan], [0.5, 0.6], (math.nan, False)),  # a chosen model with no test value reaches nothing
])
def test_curve_cost_chooses_by_validation_score(values, scores, want):
    got = curve_cost([1000, 4000], values, 0.8, "max", scores)
    assert got[1] is want[1]
    assert (math.isnan(got[0]) and math.isnan(want[0])) or got[0] == pytest.approx(want[0], rel=1e-12)


def _disagreeing_sweep(root):
    """VARIANTS, but pbt.P4 (test .90, the best on test) has the worst validation score (.50)."""
    run = write_sweep(root, VARIANTS)
    for k in SEEDS:
        [p] = (run / f"pbt.P4-seed{k}").glob("*/result.json")
        rewrite_rows(p, lambda rows: rows[-1].update(val_acc=0.50))
    return _load(run)


def test_cost_to_match_chooses_on_validation_when_test_disagrees(tmp_path):
    df = _disagreeing_sweep(tmp_path)
    per = cost_to_match(df, cost="fwd", per_seed=True)
    pbt = per[per["method"] == "pbt"]
    # by validation pbt keeps P2 (val .70 > P3's .60 > P4's .50): its curve stays at .70 < .80
    assert (pbt["chosen"] == "pbt.P2").all() and np.allclose(pbt["method_best"], 0.70)
    assert pbt["match_cost"].isna().all()
    c = cost_to_match(df, cost="fwd").set_index("method")
    assert c.loc["pbt", "match_reached"] == 0 and math.isnan(c.loc["pbt", "match_ratio"])
    # a choice on test (the old running best of test_acc) would have matched at sqrt(2000 * P4 cost)
    assert curve_cost([1000, 2000, 4000], [0.7, 0.6, 0.9], 0.8)[0] == pytest.approx(2000 * 2 ** 0.5)
    # reverse: cross-reg's curve reaches pbt's pick (.70) at its cheapest variant (300), pbt's got it at 1000
    np.testing.assert_allclose(pbt["reverse_ratio"], 0.3)


def _scramble_tests(df, seed=0):
    """Every test_* column of ``df`` replaced by noise: whatever a choice reads, it is not these."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    for c in [c for c in df.columns if c.startswith("test_")]:
        out[c] = rng.uniform(0.0, 1.0, len(df)) if not c.startswith("test_loss") else rng.uniform(0, 3, len(df))
    out.attrs = df.attrs
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_choice_reads_a_test_column(tmp_path_factory, seed):
    df = _disagreeing_sweep(tmp_path_factory.mktemp("scramble"))
    noisy = _scramble_tests(df, seed)
    a = cost_to_match(df, cost="fwd", per_seed=True).set_index(["method", "seed"])
    b = cost_to_match(noisy, cost="fwd", per_seed=True).set_index(["method", "seed"])
    assert (a["chosen"] == b["chosen"]).all()
    # the choices are what they were; the values reported for them are the new test values
    assert not np.allclose(a["method_best"], b["method_best"], equal_nan=True)
    # the final models too (the loader's rule), and what an experiment's grid CV chose by
    exp = write_experiment(tmp_path_factory.mktemp("scramble_exp"), seeds=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = load_results(exp.root)
    rep = replicate_table(ex)
    rep_noisy = replicate_table(_scramble_tests(ex, seed))
    np.testing.assert_array_equal(selection_scores(ex, rep, "classification"),
                                  selection_scores(_scramble_tests(ex, seed), rep_noisy, "classification"))


def _quiet_load(root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_results(root)


def test_a_grid_cv_refit_is_scored_by_its_cross_validation(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg", "grid_cv"), seeds=(0, 1))
    plain = _quiet_load(exp.root)
    # rows without rho/* columns cannot tell the grid points apart: the mean over every fold
    rp = replicate_table(plain)
    for k, st, score in zip(rp["seed"], rp["strategy"].astype(str), selection_scores(plain, rp, "classification")):
        if st == "grid_cv":
            folds = plain[(plain["strategy"] == "grid_cv") & (plain["seed"] == k) & (plain["role"] == "fold")]
            assert score == pytest.approx(folds.groupby("trial_id", observed=True).tail(1)["val_acc"].mean())
    # as the trainables write them, a fold's rows carry its grid point's rho
    for k in (0, 1):
        for p in (exp.root / f"grid_cv-seed{k}").glob("*/result.json"):
            point = {"0": 0.1, "1": 0.1, "2": 1.0, "3": 1.0, "4": 1.0}[p.parent.name.split("_")[2][-1]]
            rewrite_rows(p, lambda rows, v=point: [r.update({"rho/sigma_0": v}) for r in rows])
    df = _quiet_load(exp.root)
    rep = replicate_table(df)
    got = dict(zip(zip(rep["strategy"].astype(str), rep["seed"]), selection_scores(df, rep, "classification")))
    for k in (0, 1):
        # the refit has no validation split (NaN val_acc); grid CV chose it by the mean fold score of its point
        last = df[(df["strategy"] == "grid_cv") & (df["seed"] == k) & (df["role"] == "fold")].groupby(
            "trial_id", observed=True).tail(1)
        best_point = last.groupby(last["trial_id"].astype(str).str[-1].astype(int) // 2)["val_acc"].mean().max()
        assert got[("grid_cv", k)] == pytest.approx(best_point)
        cr = df[(df["strategy"] == "cross_reg") & (df["seed"] == k) & df["final_epoch"]]
        assert got[("cross_reg", k)] == pytest.approx(float(cr["val_acc"].iloc[0]))
    # a regression selects by the lowest validation loss: the score is its negative
    assert selection_scores(df, rep, "regression")[0] == pytest.approx(-rep["val_loss"].iloc[0])
