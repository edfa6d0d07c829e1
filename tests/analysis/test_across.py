"""Statistics across the tasks of a suite, against independent computations (scipy, autorank,
Demšar's tables, closed forms) on synthetic frames whose answers are known."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_runs import write_experiment
from scipy import stats

import analysis
from analysis.results import ResultsWarning, load_results
from analysis.summary import across_tasks, nemenyi_cd, performance_profile, probability_of_improvement
from analysis.summary.across import stratified_iqm

STRATS = ("cross_reg", "fixed", "pbt", "asha")


def frame(values: dict[str, dict[str, list[float]]], metric: str = "test_acc", **extra: dict) -> pd.DataFrame:
    """A hand-built frame of final models: ``values[task][strategy]`` = one value per seed."""
    rows = []
    for task, per in values.items():
        for strategy, xs in per.items():
            for seed, x in enumerate(xs):
                row = {"task": task, "strategy": strategy, "seed": seed, metric: x}
                for col, v in extra.items():
                    row[col] = v[task][strategy][seed] if isinstance(v[task][strategy], list) else v[task][strategy]
                rows.append(row)
    return pd.DataFrame(rows)


def random_suite(n_tasks: int = 8, n_seeds: int = 3, strategies=STRATS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = dict(zip(strategies, np.linspace(0.8, 0.7, len(strategies))))
    return frame({f"t{t}": {s: list(base[s] + 0.03 * rng.standard_normal(n_seeds) + 0.01 * t) for s in strategies}
                  for t in range(n_tasks)})


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory) -> Path:
    """A suite directory: three tasks' runs side by side and a suite.json beside them."""
    root = tmp_path_factory.mktemp("suite") / "suite-small"
    root.mkdir()
    base = {"cross_reg": 0.8, "fixed": 0.7, "pbt": 0.75}
    for i, task in enumerate(("mnist1d", "digits", "mnist1d-small")):
        write_experiment(root, name=f"{task}-20261125", experiment=task, seeds=(0, 1, 2, 3, 4),
                         strategies=("cross_reg", "fixed", "pbt"), quality={k: v + 0.02 * i for k, v in base.items()})
    (root / "suite.json").write_text(json.dumps({"name": "small", "tasks": ["mnist1d", "digits", "mnist1d-small"]}))
    return root


def test_a_suite_directory_loads_every_task_with_its_task_label(suite_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)  # suite.json beside the runs is no oddity
        df = load_results(suite_dir)
    assert set(df["run"].astype(str)) == {"mnist1d-20261125", "digits-20261125", "mnist1d-small-20261125"}
    assert isinstance(df["task"].dtype, pd.CategoricalDtype)
    assert (df["task"].astype(str) == df["experiment"].astype(str)).all()
    assert set(df["task"].astype(str)) == {"mnist1d", "digits", "mnist1d-small"}
    t = analysis.across_tasks(df, cost="fwd")
    assert (t["tasks"] == 3).all() and (t["blocks"] == 15).all()
    assert list(t["strategy"]) == ["cross_reg", "pbt", "fixed"]  # the designed order, on every task
    assert t.set_index("strategy").loc["fixed", "score_iqm"] == pytest.approx(0.0, abs=0.05)
    text = analysis.format_across_tasks(t)
    assert "Friedman p" in text and text.count("\n") >= 4


def test_ties_get_average_ranks_and_each_task_weighs_the_same():
    # task a: 2 seeds; task b: 1 seed. b ties fixed and pbt.
    df = frame({"a": {"cross_reg": [0.9, 0.8], "fixed": [0.7, 0.85], "pbt": [0.7, 0.6]},
                "b": {"cross_reg": [0.5], "fixed": [0.6], "pbt": [0.6]}})
    t = across_tasks(df).set_index("strategy")
    # a: seed0 ranks cr 1, fixed 2.5, pbt 2.5; seed1 fixed 1, cr 2, pbt 3; b: fixed 1.5, pbt 1.5, cr 3
    assert t.loc["cross_reg", "mean_rank"] == pytest.approx(((1 + 2) / 2 + 3) / 2)
    assert t.loc["fixed", "mean_rank"] == pytest.approx(((2.5 + 1) / 2 + 1.5) / 2)
    assert t.loc["pbt", "mean_rank"] == pytest.approx(((2.5 + 3) / 2 + 1.5) / 2)
    # the same with scipy on each block, then over seeds, then over tasks
    blocks = df.pivot_table(index=["task", "seed"], columns="strategy", values="test_acc")
    r = pd.DataFrame(stats.rankdata(-blocks.to_numpy(), axis=1), index=blocks.index, columns=blocks.columns)
    expect = r.groupby(level="task").mean().mean()
    for s in expect.index:
        assert t.loc[s, "mean_rank"] == pytest.approx(expect[s])


def test_lower_is_better_metrics_rank_the_other_way():
    df = frame({"a": {"cross_reg": [0.02, 0.03], "fixed": [0.10, 0.12], "pbt": [0.05, 0.06]}}, metric="test_ece")
    t = across_tasks(df, metric="test_ece").set_index("strategy")
    assert t["mean_rank"].to_dict() == {"cross_reg": 1.0, "pbt": 2.0, "fixed": 3.0}
    assert t.attrs["mode"] == "min"
    with pytest.raises(ValueError, match="unknown metric"):
        across_tasks(df.rename(columns={"test_ece": "test_foo"}), metric="test_foo")


@pytest.mark.parametrize(("k", "q"), [(3, 2.343), (4, 2.569), (5, 2.728), (10, 3.164)])
def test_nemenyi_cd_matches_demsars_table(k, q):
    # Demšar 2006, Table 5(a): q_0.05 for the Nemenyi test
    for n in (5, 12, 30):
        assert nemenyi_cd(k, n) == pytest.approx(q * math.sqrt(k * (k + 1) / (6 * n)), rel=5e-4)
    assert math.isnan(nemenyi_cd(1, 5)) and math.isnan(nemenyi_cd(3, 0))


def test_friedman_and_cd_equal_scipy_and_autorank():
    df = random_suite(n_tasks=8, n_seeds=3)
    t = across_tasks(df)
    means = df.groupby(["task", "strategy"])["test_acc"].mean().unstack("strategy")[list(STRATS)]
    res = stats.friedmanchisquare(*means.to_numpy().T)
    assert t.attrs["friedman_p"] == pytest.approx(res.pvalue, rel=1e-12)
    assert t.attrs["friedman_statistic"] == pytest.approx(res.statistic, rel=1e-12)
    assert t.attrs["n_tasks"] == 8 and t.attrs["n_blocks"] == 24
    assert t.attrs["nemenyi_cd"] == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 8)), rel=5e-4)
    task_rank = pd.DataFrame(stats.rankdata(-means.to_numpy(), axis=1), columns=means.columns).mean()
    assert t.set_index("strategy")["task_rank"].to_dict() == pytest.approx(task_rank.to_dict())
    autorank = pytest.importorskip("autorank")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ar = autorank.autorank(means.reset_index(drop=True), alpha=0.05, verbose=False, order="descending",
                               force_mode="nonparametric")
    assert ar.omnibus == "friedman"
    assert ar.pvalue == pytest.approx(t.attrs["friedman_p"], rel=1e-9)
    assert ar.cd == pytest.approx(t.attrs["nemenyi_cd"], rel=1e-4)  # autorank reads q from the 3-decimal table
    ours = t.set_index("strategy")["task_rank"]
    for s, r in ar.rankdf["meanrank"].items():  # order="descending": 1 = the highest accuracy, as ours
        assert r == pytest.approx(ours[s])


def test_no_friedman_with_two_strategies_or_one_task():
    t = across_tasks(random_suite(n_tasks=5, strategies=("cross_reg", "fixed")))
    assert math.isnan(t.attrs["friedman_p"]) and "3 or more strategies" in " ".join(t.attrs["notes"])
    t = across_tasks(random_suite(n_tasks=1))
    assert math.isnan(t.attrs["friedman_p"]) and math.isfinite(t.attrs["nemenyi_cd"])


def test_score_is_normalised_to_fixed_and_best_and_its_iqm_equals_trim_mean():
    df = random_suite(n_tasks=4, n_seeds=5, seed=3)
    t = across_tasks(df).set_index("strategy")
    assert set(t.attrs["normalisation"].values()) == {"fixed"}
    means = df.groupby(["task", "strategy"])["test_acc"].mean().unstack("strategy")
    scores = {s: [] for s in STRATS}
    for task, g in df.groupby("task"):
        low, best = means.loc[task, "fixed"], means.loc[task].max()
        for s in STRATS:
            scores[s] += list((g.loc[g["strategy"] == s, "test_acc"] - low) / (best - low))
    for s in STRATS:
        assert t.loc[s, "score_iqm"] == pytest.approx(stats.trim_mean(scores[s], 0.25), rel=1e-12)
        assert t.loc[s, "score_ci_low"] <= t.loc[s, "score_iqm"] <= t.loc[s, "score_ci_high"]
        assert min(scores[s]) <= t.loc[s, "score_ci_low"] and t.loc[s, "score_ci_high"] <= max(scores[s])
    # the fixed baseline's mean score is 0 and the best strategy's is 1 on every task, by construction
    assert np.mean(scores["fixed"]) == pytest.approx(0.0, abs=1e-12)
    assert across_tasks(df).equals(t.reset_index()[across_tasks(df).columns])  # seeded: the same twice


def test_stratified_bootstrap_resamples_within_tasks_and_is_withheld_without_seeds():
    point, lo, hi = stratified_iqm([np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0])])
    assert point == lo == hi == pytest.approx(0.5)  # within-task resampling keeps the task mix: no spread
    p, lo, hi = stratified_iqm([np.array([0.3]), np.array([0.5]), np.array([0.1]), np.array([0.9]), np.array([1.0])])
    assert p == pytest.approx(stats.trim_mean([0.3, 0.5, 0.1, 0.9, 1.0], 0.25))
    assert math.isnan(lo) and math.isnan(hi)  # one seed per task: nothing to resample
    p, lo, hi = stratified_iqm([np.array([0.1, 0.9])])
    assert math.isnan(lo)  # two scores in all


def test_without_fixed_the_score_is_min_max_over_strategies():
    df = frame({"a": {"cross_reg": [0.9, 0.9], "pbt": [0.7, 0.7], "asha": [0.8, 0.8]},
                "b": {"cross_reg": [0.5, 0.5], "pbt": [0.5, 0.5], "asha": [0.5, 0.5]}})
    t = across_tasks(df).set_index("strategy")
    assert t.attrs["normalisation"] == {"a": "min-max", "b": "none"}
    assert t.loc["cross_reg", "score_iqm"] == 1.0 and t.loc["pbt", "score_iqm"] == 0.0
    assert t.loc["asha", "score_iqm"] == pytest.approx(0.5)
    assert any("without fixed" in n for n in t.attrs["notes"])


def test_wins_ties_losses_count_tasks_by_a_paired_t_test():
    rng = np.random.default_rng(7)
    cr = {t: list(0.8 + 0.01 * rng.standard_normal(6)) for t in ("win", "tie", "loss")}
    noise = {t: 0.002 * rng.standard_normal(6) for t in cr}
    shift = {"win": 0.05, "tie": 0.0, "loss": -0.05}
    df = frame({t: {"cross_reg": cr[t], "pbt": list(np.add(cr[t], shift[t] + noise[t])),
                    "fixed": list(np.add(cr[t], -0.1))} for t in cr})
    t = across_tasks(df).set_index("strategy")
    assert (t.loc["pbt", "wins"], t.loc["pbt", "ties"], t.loc["pbt", "losses"]) == (1, 1, 1)
    for task in cr:  # the same decision from scipy directly
        p = stats.ttest_rel(np.add(cr[task], shift[task] + noise[task]), cr[task]).pvalue
        assert (p < 0.05) == (task != "tie")
    assert pd.isna(t.loc["cross_reg", "wins"])
    assert t.loc["fixed", "ties"] == 3  # a constant difference: the t-test is undefined, a tie
    w = across_tasks(df, test="wilcoxon").set_index("strategy")
    assert (w.loc["pbt", "wins"], w.loc["pbt", "losses"]) == (1, 1)  # 6 seeds: p can reach 2/64
    w = across_tasks(df[df["seed"] < 5], test="wilcoxon").set_index("strategy")
    assert w.loc["pbt", "ties"] == 3  # 5 seeds: the signed-rank p is at least 2/32 > 0.05, every task a tie
    with pytest.raises(ValueError, match="test must be"):
        across_tasks(df, test="sign")


def test_cost_ratio_is_the_median_over_tasks():
    cost = {"a": {"cross_reg": 10.0, "pbt": 20.0}, "b": {"cross_reg": 10.0, "pbt": 40.0},
            "c": {"cross_reg": 10.0, "pbt": 100.0}}
    df = frame({t: {"cross_reg": [0.8, 0.81], "pbt": [0.7, 0.72]} for t in cost}, flops_total=cost)
    t = across_tasks(df).set_index("strategy")
    assert t.loc["pbt", "cost_ratio_median"] == pytest.approx(4.0)
    assert t.loc["cross_reg", "cost_ratio_median"] == pytest.approx(1.0)
    assert across_tasks(df, cost="fwd")["cost_ratio_median"].isna().all()  # no fwd_total: unknown


def test_cost_ratio_from_a_loaded_suite_matches_summarize(suite_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        df = load_results(suite_dir)
    t = across_tasks(df, cost="fwd").set_index("strategy")
    s = analysis.summarize(df, cost="fwd")
    ratio = s.pivot_table(index="experiment", columns="strategy", values="fwd_total", observed=True)
    expect = (ratio["pbt"] / ratio["cross_reg"]).median()
    assert t.loc["pbt", "cost_ratio_median"] == pytest.approx(expect)


def test_a_failed_model_ranks_last_and_incomplete_blocks_are_left_out():
    df = frame({"a": {"cross_reg": [0.9, math.nan], "fixed": [0.7, 0.7], "pbt": [0.8, 0.8]},
                "b": {"cross_reg": [0.9, 0.9], "fixed": [0.7, 0.7], "pbt": [0.8, 0.8]}})
    t = across_tasks(df).set_index("strategy")
    assert t.loc["cross_reg", "n_failed"] == 1
    assert t.loc["cross_reg", "mean_rank"] == pytest.approx(((1 + 3) / 2 + 1) / 2)
    assert t.loc["cross_reg", "score_iqm"] == pytest.approx(1.0)  # the failure has no score, it is counted
    gone = df[~((df["task"] == "b") & (df["strategy"] == "pbt") & (df["seed"] == 1))]
    with pytest.warns(ResultsWarning, match=r"1 of 4 .* b: no pbt"):
        t = across_tasks(gone)
    assert t.attrs["n_blocks"] == 3 and any("b: no pbt" in n for n in t.attrs["notes"])
    with pytest.raises(ValueError, match="no final models of 'tpe'"):
        across_tasks(df, strategies=["cross_reg", "tpe"])


def test_probability_of_improvement():
    dom = frame({"a": {"x": [0.9, 0.95, 0.92], "y": [0.5, 0.6, 0.55]}, "b": {"x": [0.7, 0.8], "y": [0.6, 0.65]}})
    r = probability_of_improvement(dom, "x", "y").iloc[0]
    assert r["probability"] == 1.0 and r["tasks"] == 2
    assert probability_of_improvement(dom, "y", "x").iloc[0]["probability"] == 0.0
    same = frame({t: {"x": [0.7, 0.8, 0.9], "y": [0.7, 0.8, 0.9]} for t in ("a", "b")})
    r = probability_of_improvement(same, "x", "y").iloc[0]
    assert r["probability"] == 0.5 and 0 <= r["ci_low"] <= 0.5 <= r["ci_high"] <= 1
    # independent: the Mann-Whitney U over the seed pairs of each task, / (n m), averaged over tasks
    rng = np.random.default_rng(2)
    vals = {t: {"x": list(rng.random(5).round(2)), "y": list(rng.random(4).round(2))} for t in "abc"}
    r = probability_of_improvement(frame(vals), "x", "y").iloc[0]
    u = [stats.mannwhitneyu(v["x"], v["y"]).statistic / 20 for v in vals.values()]
    assert r["probability"] == pytest.approx(np.mean(u), rel=1e-12)
    assert r["ci_low"] <= r["probability"] <= r["ci_high"] and 0 <= r["ci_low"] and r["ci_high"] <= 1
    # lower is better for ECE: the smaller calibration error wins
    ece = frame({"a": {"x": [0.01, 0.02], "y": [0.1, 0.2]}}, metric="test_ece")
    assert probability_of_improvement(ece, "x", "y", "test_ece").iloc[0]["probability"] == 1.0
    # a failed run loses to any result
    fail = frame({"a": {"x": [math.nan, 0.9], "y": [0.5, 0.5]}})
    assert probability_of_improvement(fail, "x", "y").iloc[0]["probability"] == 0.5
    with pytest.raises(ValueError, match="no task has"):
        probability_of_improvement(dom, "x", "z")


def test_performance_profile_counts_runs_at_or_above_each_threshold():
    # a: fixed mean 0.6, best (cross_reg) mean 0.8: scores cr {0.5, 1.5}, fixed {-0.5, 0.5}
    df = frame({"a": {"cross_reg": [0.7, 0.9], "fixed": [0.5, 0.7]},
                "b": {"cross_reg": [0.8, 0.8], "fixed": [0.4, math.nan]}})
    p = performance_profile(df, taus=[-1.0, 0.0, 0.49, 0.99, 2.0])  # off the scores: no rounding at the edge
    cr = p[p["strategy"] == "cross_reg"].set_index("tau")["fraction"]
    fx = p[p["strategy"] == "fixed"].set_index("tau")["fraction"]
    # b: fixed mean 0.4 (its failure left out of the mean), cross_reg scores {1, 1}; fixed {0, failed}
    assert cr.to_dict() == pytest.approx({-1.0: 1.0, 0.0: 1.0, 0.49: 1.0, 0.99: 0.75, 2.0: 0.0})
    assert fx.to_dict() == pytest.approx({-1.0: 0.75, 0.0: 0.5, 0.49: 0.25, 0.99: 0.0, 2.0: 0.0})
    full = performance_profile(random_suite())
    for _, g in full.groupby("strategy"):
        assert (np.diff(g["fraction"].to_numpy()) <= 1e-12).all() and g["fraction"].iloc[0] == 1.0


def test_exports_are_lazy_and_complete():
    for name in ("across_tasks", "probability_of_improvement", "performance_profile", "anytime_ranks",
                 "format_across_tasks", "cd_diagram", "anytime_ranks_figure"):
        assert name in analysis.__all__ and callable(getattr(analysis, name))
