"""Suites: the TOML and its refusals, the registered suites, the plan, and one small suite
run end to end (`crossreg suite --config --smoke`), analysed, cut short and resumed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_user_extensions import DATA  # the user's own dataset the extension tests load

from harness import cli
from harness.errors import SpecError
from harness.experiments import suite_spec, suites
from harness.run import suite

SUITE = '''
name = "mine"
seeds = 2
strategies = ["cross_reg", "fixed", "grid_cv"]
[[task]]
base = "quick"
[[task]]
base = "quick"
name = "own-data"
dataset = "userpkg.data:load"
'''


def test_toml_tasks_share_the_suites_strategies_and_seeds(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(SUITE.replace('dataset = "userpkg.data:load"', "n_train = 300\nlabel_noise = 0.1"))
    s = suite_spec.load_toml(f)
    assert [t.name for t in s.tasks] == ["quick", "own-data"]
    specs = s.task_specs()
    assert {t.strategies for t in specs} == {("cross_reg", "fixed", "grid_cv")}
    assert {t.seeds for t in specs} == {2}
    assert specs[1].trial.n_train == 300 and specs[1].trial.label_noise == 0.1
    changed = s.changed(sets={"epochs": 2}, seeds=1, smoke=True)
    assert changed.name == "mine-smoke" and changed.seeds == 1
    assert all(t.epochs == 2 for t in changed.task_specs())


@pytest.mark.parametrize("text,match", [
    ('name = "x"\nseeds = 1\nstrategies = ["fixed"]\n', "no \\[\\[task\\]\\]"),
    ('name = "x"\nstrategies = ["fixed"]\nepochs = 3\n[[task]]\nbase = "quick"\n', "unknown suite key"),
    ('name = "x"\nstrategies = ["fixed"]\n[[task]]\nbase = "nope"\n', "unknown experiment 'nope'"),
    ('name = "x"\nstrategies = ["fixed"]\n[[task]]\nbase = "quick"\nepochz = 3\n', "task 1 .*epochz"),
    ('name = "x"\nstrategies = ["fixed"]\n[[task]]\nbase = "quick"\n[[task]]\nbase = "quick"\n', "twice"),
    ('name = "x"\nstrategies = ["fixed"]\n[[task]]\nbase = "quick"\nseeds = 2\n', "suite's"),
    ('name = "x"\nstrategies = "fixed"\n[[task]]\nbase = "quick"\n', "list of strategy names"),
    ('name = [\n', "malformed TOML"),
])
def test_toml_errors_are_refused_in_one_line(tmp_path, capsys, text, match):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(SpecError, match=match):
        suite_spec.load_toml(f)
    assert cli.main(["suite", "--config", str(f), "--plan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("crossreg: --config")


def test_registered_suites_list_and_preflight(capsys, tmp_path):
    small = suites.get("small")
    assert len(small.tasks) >= 6 and small.seeds == 5 and small.strategies == suites.HEADLINE
    assert {"regression", "classification"} == {t.task for t in small.tasks}
    assert any(t.trial.label_noise > 0 for t in small.tasks)
    from harness.run import runner

    suite.preflight_all(small, runner.DEFAULT_TRAINABLE, None)  # CPU-sized: runs here
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "small" in out and "paper" in out and "suites (crossreg suite NAME" in out
    # paper needs CUDA and CIFAR-10 / SVHN files: refused before Ray, one line, exit 2
    assert cli.main(["suite", "paper", "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cifar10" in err
    assert not list(tmp_path.iterdir())  # nothing written
    assert cli.main(["suite", "nope"]) == 2
    assert "unknown suite 'nope'" in capsys.readouterr().err


def test_plan_of_a_small_suite_prints_flops_and_hours(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text(SUITE.replace('dataset = "userpkg.data:load"', "n_train = 300"))
    assert cli.main(["suite", "--config", str(f), "--plan", "--device-flops", "1e9"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:5]}
    assert set(lines) == {"quick", "own-data", "total"}
    # 3 strategies x 2 seeds: 1 + 1 + 3 grid values x 3 folds + 1 refit... trials per seed
    assert int(lines["quick"][1]) == 2 * (1 + 1 + 3 * 3 + 1)
    assert float(lines["own-data"][4]) < float(lines["quick"][4])  # 300 rows, not 500
    assert "device-hours at 1e+09 FLOP/s" in out


@pytest.mark.slow
def test_plan_of_paper_on_this_cpu_machine(capsys):
    assert cli.main(["suite", "paper", "--plan", "--device-flops", "h100"]) == 0
    out = capsys.readouterr().out
    for name in ("cifar10-resnet18-noise", "cifar10-vgg16-noise", "svhn-augment"):
        (line,) = [x for x in out.splitlines() if x.strip().startswith(name)]
        flops, hours = float(line.split()[4]), float(line.split()[5])
        assert 1e17 < flops < 1e20 and hours > 0  # a ResNet-18 epoch of CIFAR-10: ~1e16


def _crossreg(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], check=False, env=env,
                          capture_output=True, text=True, timeout=900, cwd=root)


@pytest.mark.slow
def test_suite_smoke_runs_analyses_and_resumes(tmp_path):
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "data.py").write_text(DATA)
    # three single-trial strategies, one seed: the suite machinery depends on neither (grid
    # CV's 5 trials a seed and task, or a second seed, would only add Ray process starts; the
    # across-task statistics over seeds are tested on frames, tests/analysis/test_across*.py)
    (tmp_path / "suite.toml").write_text(SUITE.replace('"grid_cv"', '"deep_ensemble"'))
    proc = _crossreg(tmp_path, "suite", "--config", "suite.toml", "--smoke", "--seeds", "1",
                     "--storage", "out")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (d,) = (tmp_path / "out").glob("mine-smoke-*")
    record = json.loads((d / "suite.json").read_text())
    assert record["status"] == "finished" and record["seeds"] == 1
    assert record["strategies"] == ["cross_reg", "fixed", "deep_ensemble"]
    assert set(record["runs"]) == {"quick-smoke", "own-data-smoke"}
    assert "across tasks (test_acc)" in proc.stdout

    proc = _crossreg(tmp_path, "analyze", str(d))
    assert proc.returncode == 0, proc.stderr[-3000:]
    across = proc.stdout.split("\n\n")[0].splitlines()
    for strategy in ("cross_reg", "fixed", "deep_ensemble"):  # one row each, with its mean rank
        assert sum(line.split()[:1] == [strategy] for line in across) == 1, proc.stdout
    assert "mean" in proc.stdout and "per task" in proc.stdout

    # cut short: one task's run never happened and the suite says interrupted
    shutil.rmtree(d / record["runs"]["own-data-smoke"])
    record["status"] = "interrupted"
    (d / "suite.json").write_text(json.dumps(record))
    proc = _crossreg(tmp_path, "resume", str(d))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 of 2 tasks left" in proc.stdout
    record = json.loads((d / "suite.json").read_text())
    assert record["status"] == "finished"
    meta = json.loads((d / record["runs"]["own-data-smoke"] / "metadata.json").read_text())
    assert meta["status"] == "finished" and len(meta["completed"]) == 3
    assert len([p for p in d.iterdir() if p.is_dir()]) == 2
