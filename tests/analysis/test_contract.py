"""analysis.contract: the final-model rule on plain rows, its agreement with the loader, metric directions."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from fake_runs import write_experiment

from analysis import contract
from analysis.contract import final_trial
from analysis.results import ResultsWarning, load_results

ANALYSIS = Path(contract.__file__).parent


def _row(epoch, val_acc, role="member", val_loss=None):
    return {"epoch": epoch, "val_acc": val_acc, "val_loss": val_loss, "role": role}


def test_best_complete_trial_wins():
    rows = {"a": _row(10, 0.7), "b": _row(10, 0.8), "c": _row(4, 0.95)}  # c stopped early (ASHA)
    assert final_trial(rows, "val_acc", "max", 10) == "b"
    assert final_trial(rows, "val_acc", "min", 10) == "a"
    assert final_trial(rows, "val_acc", "max", 4) == "c"  # every trial reached 4 epochs
    assert final_trial(rows, "val_acc", "max", 11) is None  # none ran them all


def test_refit_wins_and_folds_are_never_final():
    folds = {f"f{i}": _row(10, 0.9 + i / 100, "fold") for i in range(3)}
    assert final_trial(folds, "val_acc", "max", 10) is None  # grid CV without its refit
    with_refit = {**folds, "r": _row(10, math.nan, "refit")}
    assert final_trial(with_refit, "val_acc", "max", 10) == "r"
    short_refit = {**folds, "r": _row(3, math.nan, "refit")}  # the refit wins even if cut short
    assert final_trial(short_refit, "val_acc", "max", 10) == "r"
    two = {"r1": _row(10, math.nan, "refit"), "r2": _row(4, math.nan, "refit")}
    assert final_trial(two, "val_acc", "max", 10) == "r1"  # the one that ran furthest


def test_non_finite_and_missing_metrics_are_no_candidates():
    rows = {"nan": _row(10, math.nan), "inf": _row(10, math.inf), "none": _row(10, None),
            "text": _row(10, "0.9"), "ok": _row(10, 0.5)}
    assert final_trial(rows, "val_acc", "max", 10) == "ok"
    del rows["ok"]
    assert final_trial(rows, "val_acc", "max", 10) is None
    assert final_trial({}, "val_acc", "max", 10) is None


def test_a_single_trial_without_a_validation_split_is_its_strategys_model():
    """full_pool: fixed/deep_ensemble train on the whole pool (n_reg == 0, val metric NaN)."""
    alone = {"t": {**_row(10, math.nan, "single"), "n_reg": 0}}
    assert final_trial(alone, "val_acc", "max", 10) == "t"
    assert final_trial({"t": {**alone["t"], "epoch": 4}}, "val_acc", "max", 10) is None  # cut short
    diverged = {"t": {**_row(10, math.nan, "single"), "n_reg": 400}}  # had a split: diverged
    assert final_trial(diverged, "val_acc", "max", 10) is None
    assert final_trial({"t": _row(10, math.nan, "single")}, "val_acc", "max", 10) is None  # no n_reg
    two = {"a": {**alone["t"]}, "b": {**alone["t"]}}  # nothing says which: no rule picks one
    assert final_trial(two, "val_acc", "max", 10) is None
    with_fold = {"f": {**_row(10, 0.9, "fold"), "n_reg": 100}, **alone}
    assert final_trial(with_fold, "val_acc", "max", 10) == "t"  # folds are never candidates


def test_ties_go_to_the_first_and_regression_selects_the_lowest_loss():
    rows = {"a": _row(5, 0.8), "b": _row(5, 0.8)}
    assert final_trial(rows, "val_acc", "max", 5) == "a"
    reg = {"a": _row(5, None, val_loss=2.0), "b": _row(5, None, val_loss=1.5), "c": _row(5, None, val_loss=3.0)}
    assert final_trial(reg, *contract.SELECTION["regression"], 5) == "b"
    with pytest.raises(ValueError, match="mode"):
        final_trial(rows, "val_acc", "best", 5)


def test_numpy_scalars_count_as_numbers():
    np = pytest.importorskip("numpy")
    rows = {"a": _row(np.int64(5), np.float32(0.6)), "b": _row(np.int64(5), np.float64(0.7))}
    assert final_trial(rows, "val_acc", "max", 5) == "b"


@pytest.mark.parametrize("pbt_clone", [False, True])
def test_loader_agrees_with_the_rule_on_the_raw_files(tmp_path, pbt_clone):
    """The loader's final_trial flags equal the contract's rule applied to the last lines of
    the result.json files, as the harness reads them (JSON dicts, no pandas)."""
    exp = write_experiment(tmp_path, seeds=(0, 1), pbt_clone=pbt_clone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        df = load_results(exp.root)
    for strategy in exp.strategies:
        for seed in exp.seeds:
            last_rows = {}
            for p in sorted((exp.root / f"{strategy}-seed{seed}").glob("*/result.json")):
                last = json.loads(p.read_text().splitlines()[-1])
                last["role"] = last.get("role")
                last_rows[last["trial_id"]] = last
            want = final_trial(last_rows, "val_acc", "max", exp.epochs)
            got = df[(df["strategy"] == strategy) & (df["seed"] == seed) & df["final_trial"]]["trial_id"]
            assert set(got.astype(str)) == {want} == {exp.expected_final[(strategy, seed)]}


def test_the_specs_task_decides_the_selection(tmp_path):
    """A regression spec selects by the lowest val_loss even where rows carry a val_acc."""
    from fake_runs import trial_rows, write_trial

    run = tmp_path / "reg"
    run.mkdir()
    (run / "metadata.json").write_text(json.dumps({"status": "finished", "experiment": "r",
                                                   "spec": {"epochs": 3, "task": "regression"}}))
    for tid, acc, loss in (("a", 0.9, 2.0), ("b", 0.1, 1.0)):
        rows = trial_rows(trial_id=tid, strategy="asha", seed=0, epochs=3, quality=0.5, role="member",
                          config={"dataset": "diabetes"})
        rows[-1].update(val_acc=acc, val_loss=loss)
        write_trial(run / "asha-seed0", tid, rows)
    df = load_results(run)
    assert set(df.loc[df["final_trial"], "trial_id"].astype(str)) == {"b"}
    (run / "metadata.json").write_text(json.dumps({"status": "finished", "experiment": "r",
                                                   "spec": {"epochs": 3, "task": "classification"}}))
    df = load_results(run)
    assert set(df.loc[df["final_trial"], "trial_id"].astype(str)) == {"a"}


@pytest.mark.parametrize("metric, mode, bounds", [
    ("test_acc", "max", (0, 1)), ("val_acc", "max", (0, 1)), ("test_ece", "min", (0, 1)),
    ("test_ece_ts", "min", (0, 1)), ("test_nll", "min", (0, math.inf)), ("test_nll_ts", "min", (0, math.inf)),
    ("test_brier", "min", (0, 2)), ("val_loss", "min", (0, math.inf)),
])
def test_metric_directions_and_ranges(metric, mode, bounds):
    assert contract.metric_mode(metric) == mode
    assert contract.metric_bounds(metric) == bounds


@pytest.mark.parametrize("metric", ["test_f1", "accuracy", "train_seconds", "test_acc_top5"])
def test_unknown_metric_is_refused(metric):
    with pytest.raises(ValueError, match=f"unknown metric {metric!r}"):
        contract.metric_mode(metric)


def test_contract_is_plain_python():
    code = "import sys, analysis.contract; print(sorted(m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cost_columns_and_rule_live_only_in_the_contract():
    """The cost-column list and the final-model rule are written once, in contract.py."""
    cost = re.compile(r"""["']fwd_train["']\s*,\s*["']fwd_reg["']""")
    refit = re.compile(r"""==\s*["']refit["']""")
    for path in ANALYSIS.rglob("*.py"):
        if path.name == "contract.py":
            continue
        text = path.read_text()
        assert not cost.search(text), f"{path} lists the cost columns itself"
        assert not refit.search(text), f"{path} tests for the refit role itself"
        assert not re.search(r"def final_(trial|row)\(", text), path


def test_no_analysis_module_over_400_lines():
    long = {str(p.relative_to(ANALYSIS)): n for p in ANALYSIS.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long
