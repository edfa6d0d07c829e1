"""`crossreg analyze SUITE_DIR --metric M`: a suite ranked on the metric a user asks for, over
the tasks that record it (a regression task has no accuracy, so by default a suite with one
is ranked on test loss), with the tasks left out named; a metric no task records, or one of
unknown direction, is one line and exit 2. Fake task runs, no Ray."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import pytest

from harness.cli.commands import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from fake_runs import rewrite_rows, write_experiment  # tests/analysis's run builder

STRATEGIES = ("cross_reg", "fixed", "pbt")
TASKS = ("mnist1d", "digits", "diabetes")


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    """Three tasks; `diabetes` records no test accuracy, as a regression task."""
    root = tmp_path_factory.mktemp("suite") / "small-20261206"
    root.mkdir()
    base = {"cross_reg": 0.8, "fixed": 0.7, "pbt": 0.75}
    for i, task in enumerate(TASKS):
        write_experiment(root, name=f"{task}-20261206", experiment=task, seeds=(0, 1, 2),
                         strategies=STRATEGIES, epochs=4, completed=True,
                         quality={k: v + 0.02 * i for k, v in base.items()})
    for path in root.glob("diabetes-20261206/*-seed*/*/result.json"):
        rewrite_rows(path, lambda rows: [r.update(test_acc=math.nan) for r in rows])
    (root / "suite.json").write_text(json.dumps({
        "name": "small", "strategies": list(STRATEGIES), "seeds": 3, "status": "finished",
        "commit": "abc1234", "tasks": [{"name": t, "spec": {"name": t}} for t in TASKS]}))
    return root


def _analyze(capsys, *argv: str) -> tuple[int, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["analyze", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_by_default_a_suite_with_a_regression_task_is_ranked_on_test_loss(capsys, suite):
    code, out, _ = _analyze(capsys, str(suite))
    assert code == 0 and out.startswith("across tasks (test_loss):")
    assert "Across 3 tasks" in out and "left out" not in out


def test_metric_ranks_the_tasks_that_record_it_and_names_the_rest(capsys, suite):
    code, out, _ = _analyze(capsys, str(suite), "--metric", "test_acc")
    assert code == 0 and out.startswith("across tasks (test_acc):")
    assert "Across 2 tasks (6 task x seed blocks)" in out
    assert "note: left out, no test_acc recorded: diabetes" in out
    per_task = out[out.index("per task: final test_acc"):]
    assert "mnist1d" in per_task and "digits" in per_task and "diabetes" not in per_task


@pytest.mark.parametrize("metric, says", [
    ("test_banana", "--metric test_banana:"),
    ("test_acc_ts", "--metric test_acc_ts: no task of"),
])
def test_a_metric_it_cannot_rank_is_one_line(capsys, suite, metric, says):
    code, out, err = _analyze(capsys, str(suite), "--metric", metric)
    assert code == 2 and out == ""
    assert err.startswith(f"crossreg: {says}") and err.count("\n") == 1


def test_metric_on_a_run_directory_is_refused(capsys, tmp_path):
    write_experiment(tmp_path, name="quick-run", completed=True)
    code, _, err = _analyze(capsys, str(tmp_path / "quick-run"), "--metric", "test_acc")
    assert code == 2 and "--metric ranks the tasks of a suite directory" in err
