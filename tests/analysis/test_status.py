"""Status honesty: per-seed completion, driver seconds, diverged final models, the cost reference,
and a path that holds no run."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_runs import edit_metadata, rewrite_rows, write_experiment

from analysis import summarize
from analysis.results import ResultsError, ResultsWarning, load_results, read_metadata
from analysis.summary import format_table

STRATEGIES = ("cross_reg", "fixed", "asha")


def _summary(root: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return summarize(load_results(root), cost="fwd").set_index("strategy")


def _line(text: str, strategy: str) -> str:
    return next(r for r in text.splitlines() if r.split()[:1] == [strategy])


def _diverge(exp, strategy: str, seed: int, flag: bool = True) -> None:
    """The trial's losses turn NaN from epoch 4 on (with the trial's own flag on its last row or not)."""
    [p] = (exp.root / f"{strategy}-seed{seed}").glob("*/result.json")

    def change(rows):
        for r in rows[3:]:
            for k in ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc", "test_nll"):
                r[k] = float("nan")
        rows[-1]["diverged"] = flag
    rewrite_rows(p, change)


def test_recorded_completion_reads_finished(tmp_path):
    exp = write_experiment(tmp_path, strategies=STRATEGIES, completed=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)
        df = load_results(exp.root)
    assert set(df["completion"].astype(str)) == {"finished"}
    s = summarize(df).set_index("strategy")
    assert (s["status"] == "finished").all() and (s["n_diverged"] == 0).all()
    assert (s["cost_reference"] == "cross_reg").all()


def test_errored_incomplete_and_unstarted_seeds_are_counted(tmp_path):
    exp = write_experiment(tmp_path, strategies=STRATEGIES, completed=True, status="interrupted")
    meta = json.loads((exp.root / "metadata.json").read_text())
    done = meta["completed"]
    del done["cross_reg-seed1"]            # ran part of its epochs, then the driver stopped
    done["asha-seed2"] = "errored"
    del done["fixed-seed2"]                # never started: no folder at all
    shutil.rmtree(exp.root / "fixed-seed2")
    edit_metadata(exp.root, completed=done)
    with pytest.warns(ResultsWarning, match=r"1 \(strategy, seed\) not started: fixed-seed2"):
        df = load_results(exp.root)
    comp = df.groupby(["strategy", "seed"], observed=True)["completion"].first().astype(str)
    assert comp[("cross_reg", 1)] == "incomplete" and comp[("asha", 2)] == "errored"
    assert comp[("cross_reg", 0)] == "finished"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = summarize(df).set_index("strategy")
    assert s.loc["cross_reg", "status"] == "incomplete (1 of 3 seeds)"
    assert s.loc["asha", "status"] == "errored (1 of 3 seeds)"
    assert s.loc["fixed", "status"] == "incomplete (1 of 3 seeds)" and s.loc["fixed", "n_seeds"] == 2
    # none of the references finished every seed: costs stay absolute, and the table says so
    assert s["cost_reference"].isna().all() and s["cost_vs_reference"].isna().all()
    text = format_table(s.reset_index())
    assert "incomplete (1 of 3 seeds)" in _line(text, "cross_reg")
    assert "errored (1 of 3 seeds)" in _line(text, "asha")
    assert "x cross_reg" not in text and "costs are absolute" in text


def test_old_runs_keep_the_run_status(tmp_path):
    exp = write_experiment(tmp_path, strategies=STRATEGIES, status="interrupted")  # no `completed`
    s = _summary(exp.root)
    assert (s["status"] == "interrupted").all()
    assert (s["cost_reference"] == "cross_reg").all()  # as before: nothing says which fell short


def test_wall_seconds_come_from_the_driver_when_recorded(tmp_path):
    exp = write_experiment(tmp_path, strategies=STRATEGIES, completed=True)
    # seed 1 of cross_reg stopped for five hours between epochs 3 and 4, then resumed
    [p] = (exp.root / "cross_reg-seed1").glob("*/result.json")

    def pause(rows):
        for r in rows[3:]:
            r["timestamp"] += 5 * 3600
    rows = rewrite_rows(p, pause)
    stamped = rows[-1]["timestamp"] - (rows[0]["timestamp"] - rows[0]["time_this_iter_s"])
    assert _summary(exp.root).loc["cross_reg", "wall_seconds"] > 5 * 3600 / 3  # the old figure counts the pause
    driver = {"cross_reg-seed0": 4.0, "cross_reg-seed1": 7.5}  # seed 2 not recorded: timestamps
    edit_metadata(exp.root, driver_seconds=driver)
    [q] = (exp.root / "cross_reg-seed2").glob("*/result.json")
    r2 = [json.loads(line) for line in q.read_text().splitlines()]
    seed2 = r2[-1]["timestamp"] - min(r["timestamp"] - r["time_this_iter_s"] for r in r2)
    s = _summary(exp.root)
    assert s.loc["cross_reg", "wall_seconds"] == pytest.approx(np.mean([4.0, 7.5, seed2]))
    assert stamped > 5 * 3600
    df = load_results(exp.root)
    per = df[df["strategy"] == "cross_reg"].groupby("seed")["driver_seconds"].agg(["min", "max"])
    assert per.loc[1, "min"] == per.loc[1, "max"] == 7.5  # the same on every row of the (strategy, seed)
    assert math.isnan(per.loc[2, "min"]) and df.loc[df["strategy"] == "asha", "driver_seconds"].isna().all()


@pytest.mark.parametrize("flag", [True, False])
def test_diverged_final_model_is_named_and_never_the_reference(tmp_path, flag):
    exp = write_experiment(tmp_path, strategies=STRATEGIES, completed=True)
    _diverge(exp, "cross_reg", 0, flag=flag)  # without its own flag, NaN losses still say it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load_results(exp.root)
    last = df[df["final_epoch"] & (df["strategy"] == "cross_reg") & (df["seed"] == 0)]
    assert len(last) == 1 and bool(last["diverged"].iloc[0])  # the diverged model stays visible
    s = _summary(exp.root)
    assert s.loc["cross_reg", "status"] == "diverged (1 of 3 seeds)"
    assert s.loc["cross_reg", "n_diverged"] == 1 and s.loc["cross_reg", "n_final"] == 2
    assert (s["cost_reference"] == "fixed").all()
    fixed_total = s.loc["fixed", "fwd_total"]
    for st in STRATEGIES:
        assert s.loc[st, "cost_vs_reference"] == pytest.approx(s.loc[st, "fwd_total"] / fixed_total)
    text = format_table(s.reset_index())
    assert "x fixed" in text and "x cross_reg" not in text
    assert "diverged (1 of 3 seeds)" in _line(text, "cross_reg")


def test_no_reference_when_cross_reg_diverged_and_fixed_is_absent(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg", "asha"), seeds=(0, 1), completed=True)
    _diverge(exp, "cross_reg", 1)
    s = _summary(exp.root)
    assert s["cost_reference"].isna().all() and s["cost_vs_reference"].isna().all()
    assert s["fwd_total"].gt(0).all()
    text = format_table(s.reset_index())
    assert "costs are absolute" in text and "x cross_reg" not in text


def test_a_diverged_old_run_says_so_too(tmp_path):
    exp = write_experiment(tmp_path, strategies=STRATEGIES, seeds=(0, 1))
    _diverge(exp, "fixed", 1)
    s = _summary(exp.root)
    assert s.loc["fixed", "status"] == "diverged (1 of 2 seeds)" and s.loc["cross_reg", "status"] == "finished"


@pytest.mark.parametrize("content", [None, "notes.txt", "sub/deeper/params.json"])
def test_a_path_with_no_run_is_one_clear_error(tmp_path, content):
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    if content:
        (empty / content).parent.mkdir(parents=True, exist_ok=True)
        (empty / content).write_text("{}")
    with pytest.raises(ResultsError, match="not-a-run: no experiment run here") as e:
        load_results(empty)
    assert isinstance(e.value, ValueError)  # the CLI maps ValueError to exit code 2
    with pytest.raises(ResultsError):
        read_metadata(empty)
    with pytest.raises(FileNotFoundError):
        load_results(tmp_path / "nope")


def test_a_run_that_just_started_loads_empty(tmp_path):
    run = tmp_path / "fresh"
    run.mkdir()
    meta = {"experiment": "quick", "status": "running", "seeds": [0], "strategies": ["cross_reg"],
            "completed": {}, "spec": {"epochs": 5}}
    (run / "metadata.json").write_text(json.dumps(meta))
    with pytest.warns(ResultsWarning, match="no result.json") as rec:
        df = load_results(run)
    assert any("not started: cross_reg-seed0" in str(w.message) for w in rec)
    assert df.empty and df.attrs["status"] == {"fresh": "running"}
    assert {"final_trial", "final_epoch", "completion", "driver_seconds"} <= set(df.columns)
    assert format_table(summarize(df)) == "(no results)"
