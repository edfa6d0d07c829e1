"""benchmarks/headline.py: its plan (what one command runs for the fair headline), its
refusal of a dirty tree and its resume, without Ray (its --smoke run trains eleven entries:
minutes here); benchmarks/report_headline.py's figure, priced in FLOPs."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from harness.experiments import sweep

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def headline() -> ModuleType:
    return _script("headline")


def test_the_readme_table_puts_cross_reg_first_then_orders_by_flops(headline, tmp_path):
    """Fake runs through the real summary: the table's rows are the comparison table's cells
    (`display_table`), cross_reg first, the others by FLOPs per seed."""
    import sys
    import warnings

    import analysis
    from analysis.summary import display_table

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
    from fake_runs import rewrite_rows, write_experiment

    write_experiment(tmp_path, name="mnist1d-noise-run", completed=True,
                     strategies=("grid_cv", "fixed", "cross_reg", "pbt"))
    for path in tmp_path.glob("*/*-seed*/*/result.json"):
        rewrite_rows(path, lambda rows: [r.update({f"flops_{k}": 3.0 * r[f"fwd_{k}"]
                                                   for k in ("train", "reg", "eval", "test")})
                                         for r in rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = analysis.summarize(analysis.load_results(str(tmp_path / "mnist1d-noise-run")),
                                     cost="flops")
    shown = display_table(summary).set_index("strategy")
    lines = headline.readme_table(summary).splitlines()
    assert lines[0] == ("| strategy | seeds | n train | test acc % | ECE % | FLOPs | "
                        "x cross_reg (FLOPs) |")
    names = [line.split(" | ")[0].removeprefix("| ") for line in lines[2:]]
    others = summary[summary["strategy"] != "cross_reg"].sort_values("flops_total")
    assert names == ["cross_reg", *others["strategy"].astype(str)]
    assert len(set(summary["flops_total"])) == len(summary)  # the order is not a tie's
    for name, line in zip(names, lines[2:]):
        cells = [shown.at[name, c] for c in ("seeds", "n train", "test acc %", "ECE %", "FLOPs",
                                             "x cross_reg (FLOPs)")]
        assert line == "| " + " | ".join([name, *map(str, cells)]) + " |"
    assert lines[2].endswith("| 1.00 |")  # cross-reg against itself


def test_the_figures_pareto_front_is_taken_on_its_own_cost_axis():
    """A method cheaper in FLOPs but dearer in forward passes than cross-reg, and a little
    less accurate: on the FLOPs axis (the headline's price) both are on the front, on the
    forward-pass axis cross-reg alone."""
    import pandas as pd

    report = _script("report_headline")
    key = {"experiment": "e", "dataset": "d"}
    curves = pd.DataFrame([{**key, "strategy": "cross_reg", "method": "cross_reg", "budget": "-",
                            "fwd_total": 1.0, "flops_total": 10.0, "test_acc_mean": 0.70}])
    points = pd.DataFrame([{**key, "strategy": "t1t2", "n_seeds": 3, "fwd_total": 2.0,
                            "flops_total": 5.0, "test_acc_mean": 0.69}])
    assert report._with_points(curves, points, "flops")["pareto"].tolist() == [True, True]
    assert report._with_points(curves, points, "fwd")["pareto"].tolist() == [True, False]
    # a run that is its own sweep (the fair headline): its variants are points of their
    # method's curve already, not methods of their own beside it
    variant = pd.DataFrame([{**key, "strategy": "cross_reg.r10K1", "method": "cross_reg",
                             "budget": "K=1, r=10", "fwd_total": 0.3, "flops_total": 3.0,
                             "test_acc_mean": 0.68}])
    both = pd.concat([curves, variant], ignore_index=True)
    own = pd.DataFrame([{**key, "strategy": s, "n_seeds": 3, "fwd_total": 1.0,
                         "flops_total": 1.0, "test_acc_mean": 0.5}
                        for s in ("cross_reg", "cross_reg.r10K1")])
    assert report._with_points(both, own, "flops")["strategy"].tolist() == [
        "cross_reg", "cross_reg.r10K1"]


def test_the_plan_is_every_method_the_control_and_the_cheapest_cross_reg(headline):
    spec, variants = headline.plan(seeds=10)
    assert spec.name == "mnist1d-noise" and spec.seeds == 10 and spec.protocol == "equal_rows"
    assert set(headline.STRATEGIES) == {"cross_reg", "fixed", "deep_ensemble", "pbt", "grid_cv",
                                        "asha", "random", "hyperband", "t1t2"}
    assert {n: v["budget"] for n, v in variants.items() if v["budget"]} == {
        "cross_reg.r10K1": {"r": 10, "K": 1},
        "fixed.rho0.3": {"fixed_rho": spec.rho_init},  # the control: fixed at cross-reg's start
    }
    assert spec.rho_init == 0.3
    assert all(variants[s] == {"strategy": s, "budget": {}} for s in headline.STRATEGIES)
    sweep.check_variants(spec, variants)  # the spec accepts every budget (before Ray starts)
    assert sweep.reference(spec, variants) == "cross_reg"
    _, control = sweep.resolve(spec, "fixed.rho0.3", variants)
    assert control.fixed_rho == 0.3 and control.trial == spec.trial
    smoke, _ = headline.plan(seeds=1, smoke=True)
    assert smoke.name == "mnist1d-noise-smoke" and smoke.seeds == 1 and smoke.epochs <= 3


def test_arguments(headline):
    args = headline.parse_args([])
    assert (args.seeds, args.storage, args.smoke) == (10, "results/headline", False)
    assert headline.parse_args(["--smoke"]).seeds == 1
    assert headline.parse_args(["--seeds", "3", "--storage", "/x"]).storage == "/x"
    with pytest.raises(SystemExit):
        headline.parse_args(["--seeds", "0"])


def test_resume_and_report_take_a_run_directory_one_at_a_time(headline):
    assert headline.parse_args(["--resume", "/r"]).resume == "/r"
    assert headline.parse_args(["--report", "/r"]).report == "/r"
    with pytest.raises(SystemExit):
        headline.parse_args(["--resume", "/r", "--report", "/r"])


def test_a_resume_from_another_commit_is_refused(headline, tmp_path):
    from harness.errors import HarnessError
    from harness.run import metadata
    from harness.run.storage import Storage

    spec, _ = headline.plan(seeds=1)
    meta = metadata.new(spec.to_dict(), [0], ["cross_reg"], "trainables.tune:train_fn", None)
    meta["git_commit"] = "a" * 40
    metadata.write(Storage(str(tmp_path)), meta)
    headline.check_same_commit(str(tmp_path), "a" * 40)  # the commit it started at
    with pytest.raises(HarnessError, match=f"started at commit {'a' * 40}, this checkout is "
                                           f"{'b' * 40}"):
        headline.check_same_commit(str(tmp_path), "b" * 40)


def test_an_interrupted_headline_exits_130_naming_its_resume(headline, monkeypatch, capsys):
    from harness.errors import Interrupted
    from harness.run import interrupts, runner

    def interrupted(*args, **kwargs):
        interrupts.note_run("/runs/mnist1d-noise-x")
        raise Interrupted("experiment interrupted; continue it with: crossreg resume "
                          "/runs/mnist1d-noise-x")

    monkeypatch.setattr(headline, "check_clean", lambda: "c" * 40)
    monkeypatch.setattr(runner, "start", interrupted)
    try:
        assert headline.main(["--seeds", "1"]) == 130
    finally:
        interrupts.note_run(None)
    err = capsys.readouterr().err
    assert "headline: experiment interrupted" in err
    assert "python benchmarks/headline.py --resume /runs/mnist1d-noise-x" in err


def test_a_dirty_tree_is_refused(headline, tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-qm", "one")
    assert len(headline.check_clean(tmp_path)) == 40
    (tmp_path / "a.py").write_text("x = 2\n")
    with pytest.raises(headline.DirtyTree, match="a.py"):
        headline.check_clean(tmp_path)
    git("commit", "-qam", "two")
    (tmp_path / "new.py").write_text("")  # untracked code runs too
    with pytest.raises(headline.DirtyTree, match="new.py"):
        headline.check_clean(tmp_path)


def test_cli_tables_are_priced_in_flops_by_default():
    from harness.cli.commands import build_parser

    assert build_parser().parse_args(["analyze", "somewhere"]).cost == "flops"


def test_the_paired_tests_count_the_test_rows_where_predictions_were_saved(tmp_path):
    """Test accuracy gets McNemar's p and the seeds-then-rows interval beside the seed-level
    tests, each as `analysis.compare` gives it; ECE (no per-example form) does not."""
    import sys
    import warnings

    import numpy as np

    import analysis
    from analysis.contract import PREDICTIONS_FILE

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
    from fake_runs import write_experiment

    report = _script("report_headline")
    exp = write_experiment(tmp_path, strategies=("cross_reg", "fixed"), seeds=(0, 1, 2, 3, 4))
    rng = np.random.default_rng(0)
    label = rng.integers(0, 10, 300)
    for (strategy, seed), tid in exp.expected_final.items():
        right = rng.random(label.size) < (0.8 if strategy == "cross_reg" else 0.7)
        trial = next((exp.root / f"{strategy}-seed{seed}").glob(f"train_{tid}_*"))
        np.savez(trial / PREDICTIONS_FILE, index=np.arange(label.size), label=label,
                 pred=np.where(right, label, (label + 1) % 10),
                 confidence=np.full(label.size, 0.9), p_true=np.where(right, 0.9, 0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = analysis.load_results(exp.root)
        c = analysis.compare(df, "cross_reg", "fixed", "test_acc").iloc[0]
        acc = report._tests(df, "test_acc").splitlines()
        ece = report._tests(df, "test_ece").splitlines()
    assert acc[0].endswith("| McNemar p | seeds x rows 95% CI (pp) |")
    assert acc[1].count("---") == len(acc[0].split(" | "))  # the separator spans every column
    cells = acc[2].strip("| ").split(" | ")
    assert cells[0] == "fixed" and cells[8] == f"{c['mcnemar_p']:.3g}"
    assert cells[9] == f"[{100 * c['rows_ci_low']:+.2f}, {100 * c['rows_ci_high']:+.2f}]"
    assert c["rows_ci_low"] > 0  # ten points apart on 1,500 rows: the interval sees it
    assert "McNemar" not in ece[0] and len(ece[2].strip("| ").split(" | ")) == 8


def test_the_readme_prices_a_method_without_what_interruptions_made_it_re_run(headline, tmp_path):
    """Rows an interrupt made a unit re-run (rerun.json) count in the full table's cost, not in
    the method's price: the README's FLOPs are those of the run without them."""
    import json
    import sys
    import warnings

    import analysis

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
    from fake_runs import rewrite_rows, write_experiment

    write_experiment(tmp_path, name="mnist1d-noise-run", completed=True,
                     strategies=("cross_reg", "fixed"))
    for path in tmp_path.glob("*/*-seed*/*/result.json"):
        rewrite_rows(path, lambda rows: [r.update({f"flops_{k}": 3.0 * r[f"fwd_{k}"]
                                                   for k in ("train", "reg", "eval", "test")})
                                         for r in rows])
    run = str(tmp_path / "mnist1d-noise-run")

    def load():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return analysis.load_results(run)

    uninterrupted = analysis.summarize(load(), cost="flops").set_index("strategy")["flops_total"]
    trial = next((tmp_path / "mnist1d-noise-run" / "cross_reg-seed0").glob("*/result.json"))
    rows = [json.loads(x) for x in trial.read_text().splitlines()[:2]]
    (trial.parent / "rerun.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    df = load()
    paid = analysis.summarize(df, cost="flops").set_index("strategy")["flops_total"]
    price = headline.method_price(df).set_index("strategy")["flops_total"]
    assert paid["cross_reg"] > uninterrupted["cross_reg"]  # the re-run rows were loaded
    assert price.to_dict() == pytest.approx(uninterrupted.to_dict())
    assert "cross_reg 2 epochs" in headline.interruption_cost(df)
