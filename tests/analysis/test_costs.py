"""Cost axes (forward passes, FLOPs, device seconds, wall) and re-run epochs, against the raw files."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_runs import rewrite_rows, write_experiment, write_trial

from analysis.contract import COST_AXES, cost_columns, total_column
from analysis.results import ResultsWarning, load_results
from analysis.summary import (
    anytime_curves,
    compute_to_quality,
    display_table,
    format_table,
    summarize,
)

STRATEGIES = ("cross_reg", "pbt", "asha")
#: FLOPs per forward pass by kind: a train step (forward + backward) and a rho step cost more.
FACTOR = {"flops_train": 2.73, "flops_reg": 6.92, "flops_eval": 1.0}
SHARE = 0.25  # device share the trials held


def _add_flops(root: Path, skip: str | None = None) -> None:
    """Give every row FLOPs (forward passes x a factor per kind) and device seconds, except the
    trial directory named ``skip``."""
    for p in root.rglob("result.json"):
        if skip is not None and skip in str(p):
            continue

        def change(rows):
            for r in rows:
                for col, f in FACTOR.items():
                    r[col] = r["fwd_" + col.split("_")[1]] * f
                r["flops_test"] = 1e12  # never a cost
                r["device_seconds"] = r["train_seconds"] * SHARE
        rewrite_rows(p, change)


def _raw(root: Path, strategy: str, seed: int, name: str = "result.json") -> list[dict]:
    return [json.loads(line) for p in sorted((root / f"{strategy}-seed{seed}").rglob(name))
            for line in p.read_text().splitlines()]


def _quiet(root: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        return load_results(root)


@pytest.fixture(scope="module")
def costed(tmp_path_factory):
    exp = write_experiment(tmp_path_factory.mktemp("costs"), strategies=STRATEGIES, completed=True)
    _add_flops(exp.root)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)  # every trial carries them: a clean load
        df = load_results(exp.root)
    return exp, df


def test_every_axis_sums_every_row_of_every_trial(costed):
    exp, df = costed
    assert df["flops_train"].dtype == np.float64 and df["device_seconds"].dtype == np.float64
    for cost in COST_AXES:
        s = summarize(df, cost=cost).set_index("strategy")
        col = total_column(cost)
        for st in STRATEGIES:
            per_seed = [sum(r[c] for r in _raw(exp.root, st, k) for c in cost_columns(cost)) for k in exp.seeds]
            assert s.loc[st, col] == pytest.approx(np.mean(per_seed), rel=1e-12), (cost, st)
            assert s.loc[st, "cost_vs_reference"] == pytest.approx(s.loc[st, col] / s.loc["cross_reg", col])
        assert (s["cost_axis"] == cost).all() and (s["cost_reference"] == "cross_reg").all()
    s = summarize(df, cost="fwd").set_index("strategy")
    assert (summarize(df)["cost_axis"] == "flops").all()  # FLOPs are the price by default
    # FLOPs weigh the kinds apart: cross_reg's rho steps cost 6.92 forwards, not 1
    cr = s.loc["cross_reg"]
    assert cr["flops_reg"] == pytest.approx(FACTOR["flops_reg"] * cr["fwd_reg"])
    assert cr["flops_total"] == pytest.approx(sum(FACTOR[c] * cr["fwd_" + c.split("_")[1]] for c in FACTOR))
    assert s.loc["asha", "device_seconds_total"] == pytest.approx(SHARE * s.loc["asha", "trial_seconds"])
    flops = summarize(df, cost="flops").set_index("strategy")
    assert flops.loc["pbt", "cost_vs_reference"] != pytest.approx(s.loc["pbt", "cost_vs_reference"])


def test_the_table_names_the_axis_and_shows_flops_and_device_seconds(costed):
    _, df = costed
    text = format_table(summarize(df, cost="flops"))
    header = text.splitlines()[1]
    assert "x cross_reg (FLOPs)" in header and "FLOPs" in header and "device s" in header
    assert format_table(summarize(df)).splitlines()[1] == header  # the default axis is FLOPs
    fwd_header = format_table(summarize(df, cost="fwd")).splitlines()[1]
    assert "x cross_reg (fwd)" in fwd_header and "(FLOPs)" not in fwd_header


def test_unknown_axis_is_refused(costed):
    _, df = costed
    for f in (lambda: summarize(df, cost="joules"), lambda: compute_to_quality(df, cost="gpu"),
              lambda: anytime_curves(df, cost="flop")):
        with pytest.raises(ValueError, match="unknown cost axis"):
            f()


def test_old_runs_say_dash_not_zero(tmp_path):
    exp = write_experiment(tmp_path, strategies=STRATEGIES, seeds=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)  # an older run lacks them silently
        df = load_results(exp.root)
    assert df["flops_train"].isna().all() and df["device_seconds"].isna().all()
    s = summarize(df, cost="flops")
    assert s["flops_total"].isna().all() and s["device_seconds_total"].isna().all()
    assert s["cost_vs_reference"].isna().all() and (s["fwd_total"] > 0).all()
    text = format_table(s)
    assert not {"FLOPs", "device s"} & set(display_table(s).columns)  # no column of dashes
    assert "no FLOPs (matmul/conv, fwd + bwd) to compare" in text
    assert (display_table(s)["x cross_reg (FLOPs)"] == "-").all()  # unknown, never 0
    q = compute_to_quality(df, cost="flops")
    assert q["flops_total"].isna().all() and (q["reached_own"] == 0).all()


def test_a_trial_without_flops_leaves_its_seed_unknown(tmp_path):
    exp = write_experiment(tmp_path, strategies=STRATEGIES, seeds=(0, 1))
    _add_flops(exp.root, skip="asha1_00003")
    missing = r"'flops_train', 'flops_reg', .*'device_seconds' missing in trial\(s\) .*asha1_00003.* \(others carry"
    with pytest.warns(ResultsWarning, match=missing):
        df = load_results(exp.root)
    s = summarize(df).set_index("strategy")
    assert math.isnan(s.loc["asha", "flops_total"]) and math.isnan(s.loc["asha", "device_seconds_total"])
    assert np.isfinite(s.loc["pbt", "flops_total"]) and np.isfinite(s.loc["asha", "fwd_total"])


def _rerun(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def rerun_exp(tmp_path):
    """pbt seed 0: its final trial re-ran epochs 3-4 (superseded rows in rerun.json, with a
    test accuracy and validation score that would win if read as results), and an orphaned
    trial directory holds only a rerun.json with all its epochs."""
    exp = write_experiment(tmp_path, strategies=STRATEGIES, completed=True)
    _add_flops(exp.root)
    final = exp.expected_final[("pbt", 0)]
    [p] = (exp.root / "pbt-seed0").glob(f"train_{final}_*/result.json")
    old = [json.loads(line) for line in p.read_text().splitlines()][2:4]
    for r in old:
        r.update(test_acc=0.999, val_acc=0.9999, fwd_train=1000, flops_train=1000 * FACTOR["flops_train"])
    _rerun(p.parent / "rerun.json", old)
    orphan = [json.loads(line) for line in p.read_text().splitlines()]
    for r in orphan:
        r.update(trial_id="orphan", test_acc=0.998, val_acc=0.9999)
    _rerun(exp.root / "pbt-seed0" / "train_orphan_x" / "rerun.json", orphan)
    return exp, old, orphan


def test_rerun_rows_are_cost_and_nothing_else(rerun_exp):
    exp, old, orphan = rerun_exp
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)  # no "repeated iteration", no missing folder
        df = load_results(exp.root)
    assert df["rerun"].dtype == bool and df["rerun"].sum() == len(old) + len(orphan)
    assert not (df["rerun"] & (df["final_trial"] | df["final_epoch"])).any()
    finals = df[df["final_epoch"]].set_index(["strategy", "seed"])["trial_id"].astype(str).to_dict()
    assert finals == exp.expected_final  # the re-run rows' 0.9999 validation chose nothing
    s = summarize(df).set_index("strategy")
    for cost in COST_AXES:
        col = total_column(cost)
        every = [sum(r[c] for name in ("result.json", "rerun.json") for r in _raw(exp.root, "pbt", k, name)
                     for c in cost_columns(cost)) for k in exp.seeds]
        assert summarize(df, cost=cost).set_index("strategy").loc["pbt", col] == pytest.approx(np.mean(every))
    assert s.loc["pbt", "rerun_epochs"] == pytest.approx((len(old) + len(orphan)) / 3)
    assert s.loc["cross_reg", "rerun_epochs"] == 0
    assert s.loc["pbt", "n_trials"] == exp.n_trials[("pbt", 0)]  # the orphan is no trial of the results
    assert s.loc["pbt", "test_acc_mean"] == pytest.approx(np.mean([exp.final_test[("pbt", k)]["test_acc"]
                                                                   for k in exp.seeds]))
    line = next(r for r in format_table(s.reset_index()).splitlines() if r.lstrip().startswith("pbt"))
    assert "reruns" in format_table(s.reset_index()).splitlines()[1] and f"{(len(old) + len(orphan)) / 3:.3g}" in line
    assert "reruns" not in format_table(summarize(df[~df["rerun"].to_numpy()])).splitlines()[1]
    # the curve counts their cost where they happened, and never shows their values
    cur = anytime_curves(df, cost="fwd")
    p0 = cur[(cur["strategy"] == "pbt") & (cur["seed"] == 0)]
    seed0 = sum(r[c] for name in ("result.json", "rerun.json") for r in _raw(exp.root, "pbt", 0, name)
                for c in cost_columns("fwd"))
    assert p0["cum_fwd"].iloc[-1] == seed0 and len(p0) == len(df[(df["strategy"] == "pbt") & (df["seed"] == 0)])
    assert p0["value"].max() < 0.99 and p0["value"].iloc[-1] == exp.final_test[("pbt", 0)]["test_acc"]


def test_an_empty_rerun_file_is_nothing(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg",), seeds=(0,))
    [p] = (exp.root / "cross_reg-seed0").glob("*/result.json")
    (p.parent / "rerun.json").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)
        df = load_results(exp.root)
    assert not df["rerun"].any() and not df["placeholder"].any()


def test_ece_after_temperature_scaling_shows_where_present(tmp_path):
    exp = write_experiment(tmp_path, strategies=STRATEGIES, seeds=(0, 1))
    assert "ECE TS %" not in format_table(summarize(_quiet(exp.root)))
    want = {}
    for st in ("cross_reg", "pbt"):
        for k in exp.seeds:
            for p in (exp.root / f"{st}-seed{k}").rglob("result.json"):
                def change(rows, st=st, k=k):
                    for r in rows:
                        r["test_ece_ts"], r["test_nll_ts"] = r["test_ece"] / 2, r["test_nll"] * 0.9
                rewrite_rows(p, change)
            want.setdefault(st, []).append(exp.final_test[(st, k)]["test_ece"] / 2)
    s = summarize(_quiet(exp.root)).set_index("strategy")
    for st, v in want.items():
        assert s.loc[st, "test_ece_ts_mean"] == pytest.approx(np.mean(v))
    assert math.isnan(s.loc["asha", "test_ece_ts_mean"])
    text = format_table(s.reset_index())
    assert "ECE TS %" in text.splitlines()[1]
    assert f"{np.mean(want['pbt']) * 100:.1f}" in next(r for r in text.splitlines() if r.lstrip().startswith("pbt"))


def _row(tid, e, ts, val, test, fwd=100):
    return {"trial_id": tid, "training_iteration": e, "epoch": e, "timestamp": ts, "time_this_iter_s": 2.0,
            "val_acc": val, "val_loss": 1 - val, "test_acc": test, "test_ece": 0.1, "test_nll": 1.0,
            "train_loss": 1.0, "test_loss": 1.0, "fwd_train": fwd, "fwd_reg": 0, "fwd_eval": 0, "fwd_test": 7,
            "train_seconds": 2.0, "train_acc": 0.5, "test_brier": 0.3, "flops_train": 3.0 * fwd, "flops_reg": 0.0,
            "flops_eval": 0.0, "device_seconds": 0.5, "config": {"dataset": "toy"}}


def test_curves_and_compute_to_quality_on_every_axis(tmp_path):
    run = tmp_path / "hand"
    run.mkdir()
    (run / "metadata.json").write_text(json.dumps({"status": "finished", "experiment": "toy"}))
    # one trial, epochs ending at t = 12, 14, 16 (began at 10): elapsed 2, 4, 6 s
    write_trial(run / "cross_reg-seed0", "C", [_row("C", e, 10 + 2 * e, 0.5 + 0.1 * e, t)
                                               for e, t in ((1, 0.4), (2, 0.6), (3, 0.8))])
    df = load_results(run)
    for cost, xs in (("fwd", [100, 200, 300]), ("flops", [300, 600, 900]), ("device_seconds", [0.5, 1.0, 1.5]),
                     ("wall", [2.0, 4.0, 6.0])):
        cur = anytime_curves(df, cost=cost)
        np.testing.assert_allclose(cur[f"cum_{cost}"], xs)
        np.testing.assert_allclose(cur["value"], [0.4, 0.6, 0.8])
        q = compute_to_quality(df, within=25.0, cost=cost).iloc[0]
        assert q[f"{cost}_to_own"] == pytest.approx(xs[1])  # .6 is the first within 25 points of .8
        assert q[total_column(cost)] == pytest.approx(xs[-1]) and q["cost_axis"] == cost


def test_a_folder_of_only_rerun_rows_is_not_a_missing_strategy(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg", "asha"), seeds=(0,))
    [p] = (exp.root / "cross_reg-seed0").glob("*/result.json")
    shutil.move(p, p.parent / "rerun.json")  # an orphan whose trial never reported again
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        df = load_results(exp.root)
    assert not any("has no result.json" in str(w.message) for w in rec)
    cr = df[df["strategy"] == "cross_reg"]
    assert cr["rerun"].all() and not cr["final_trial"].any() and cr["fwd_train"].sum() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = summarize(df).set_index("strategy")
    assert s.loc["cross_reg", "n_trials"] == 0
    assert s.loc["cross_reg", "fwd_total"] == cr[list(cost_columns("fwd"))].sum().sum()
    assert s.loc["cross_reg", "rerun_epochs"] == len(cr) and math.isnan(s.loc["cross_reg", "test_acc_mean"])
    cur = anytime_curves(df)
    assert cur.loc[cur["strategy"] == "cross_reg", "value"].isna().all()


def test_a_rerun_epoch_that_diverged_is_no_diverged_trial(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg",), seeds=(0,))
    [p] = (exp.root / "cross_reg-seed0").glob("*/result.json")
    row = json.loads(p.read_text().splitlines()[2])
    row.update(train_loss=float("nan"), test_loss=float("nan"), diverged=True)
    _rerun(p.parent / "rerun.json", [row])  # the retry that followed it is in result.json
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)
        df = load_results(exp.root)
    assert df.loc[df["rerun"], "diverged"].all() and not df.loc[~df["rerun"], "diverged"].any()
    assert summarize(df).iloc[0]["status"] == "finished"


def test_flops_are_the_default_price_and_a_run_without_them_says_so(tmp_path):
    import inspect

    import analysis
    from analysis.contract import DEFAULT_COST
    from analysis.summary import cost_to_match, sweep_summary
    assert DEFAULT_COST == "flops"
    for f in (analysis.summarize, analysis.compute_to_quality, analysis.anytime_curves, sweep_summary,
              cost_to_match, analysis.pareto_front, analysis.write_report):
        assert inspect.signature(f).parameters["cost"].default == "flops", f
    exp = write_experiment(tmp_path, strategies=("cross_reg", "pbt"), completed=True)  # no FLOPs: an older run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load_results(exp.root)
        s = analysis.summarize(df)
    assert (s["cost_axis"] == "flops").all() and s["flops_total"].isna().all()
    assert s["cost_vs_reference"].isna().all() and (s["fwd_total"] > 0).all()  # unknown, never 0
    text = format_table(s)
    assert "x cross_reg (FLOPs)" in text.splitlines()[1]
    assert "did not record them" in text and "cost='fwd'" in text
