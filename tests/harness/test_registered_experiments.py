"""Every registered experiment that needs no GPU and no downloaded files runs with `--smoke`.

Two experiments run end to end through Ray: `quick`, as a user runs it (the console script,
in a subprocess, so that its output can be read), whose strategies (cross-reg, fixed, PBT,
grid CV, ASHA) are every strategy the other CPU experiments search with; and `ridge`, the
same Ray path for a regression task. Every strategy finishes and the table has a row for
each; every strategy directory keeps the state `Tuner.restore` needs; the main job's output
is for a person.

The other experiments (`mnist1d-noise`, `digits-augment`, `lasso-diabetes` and the
catalogue, one regularizer family each) differ from those in their trial configs alone, so
every config each of their strategies would launch (a search's range ends, every grid CV
fold and its refit) trains in this process (`trainables.run_trial`): the Ray machinery they
would go through is the end-to-end experiments' (the catalogue's ~60 trial processes off
Ray saved about five minutes of CI; the three searched experiments' another ~65 s of this
module's 175 s on the idle 2-core machine)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.commands import resolve_spec
from harness.experiments import registry
from harness.run import runner

#: the module fixture's smoke runs (~2 minutes on 2 cores, more on a loaded machine) count in
#: the first test's time: above the suite's 600 s per-test timeout (pyproject), which is for
#: tests that hang
pytestmark = pytest.mark.timeout(1500)

LOCAL = [name for name in registry.names()
         if registry.get(name).trial.device != "cuda"
         and registry.get(name).trial.dataset not in ("cifar10", "svhn")]
#: through Ray: the Ray path differs by strategy and by task (classification, regression)
END_TO_END = ["quick", "ridge"]
#: in this process: their strategies' Ray paths are the end-to-end experiments'
IN_PROCESS = [name for name in LOCAL if name not in END_TO_END]


@pytest.fixture(scope="module")
def smoke(ray_session, tmp_path_factory) -> tuple[dict[str, Path], list[str]]:
    """The end-to-end experiments' `--smoke` runs and the main job's output. `quick` runs as
    a user runs it (the console script, in a subprocess of its own) while the others run in
    this module's Ray session (a smoke trial trains for a fraction of a second: its Tuner's
    time goes to starting processes and to Tune's loop, which overlap)."""
    import argparse

    storage = tmp_path_factory.mktemp("quick")
    log = (storage / "output.txt").open("w+")  # a file, not a pipe: nothing waits to be read
    # with TensorBoard and MLflow logging on, so their output is checked for chatter too;
    # run in `storage`, where MLflow's default ./mlruns store lands
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    quick = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "quick", "--smoke",
                              "--log", "tensorboard", "--log", "mlflow", "--storage", str(storage)],
                             stdout=log, stderr=subprocess.STDOUT, text=True, cwd=storage, env=env)

    def run(name: str) -> Path:
        args = argparse.Namespace(config=None, experiment=name, sets=[], gpus_per_trial=None,
                                  cpus_per_trial=None, strategies=None, seeds=None, smoke=True)
        options = runner.RunOptions(storage=str(tmp_path_factory.mktemp(name)), verbose=0,
                                    concurrent=True, echo=lambda s: None)
        return Path(runner.start(resolve_spec(args), options))

    try:
        runs = {name: run(name) for name in END_TO_END if name != "quick"}
        quick.wait(timeout=600)
    finally:
        if quick.poll() is None:
            quick.kill()
        log.close()
    lines = (storage / "output.txt").read_text().splitlines()
    assert quick.returncode == 0, "\n".join(lines[-40:])
    return {"quick": next(storage.glob("quick-smoke-*")), **runs}, lines


@pytest.fixture(scope="module")
def smoke_runs(smoke) -> dict[str, Path]:
    return smoke[0]


@pytest.fixture(scope="module")
def quick_output(smoke) -> tuple[Path, list[str]]:
    return smoke[0]["quick"], smoke[1]


def test_the_local_experiments_are_the_cpu_ones():
    assert {"quick", "mnist1d-noise", "digits-augment", "ridge", "lasso-diabetes"} <= set(LOCAL)
    catalogue = {n for n in LOCAL if n.startswith("mnist1d-") and n != "mnist1d-noise"}
    assert {"mnist1d-dropout", "mnist1d-pair", "mnist1d-mixup", "mnist1d-orthogonal"} <= catalogue


def test_the_experiments_off_ray_search_with_strategies_the_end_to_end_ones_run():
    """What lets them skip Ray: their strategies are among those `quick` runs through Ray,
    and every task kind among the end-to-end experiments'."""
    through_ray = set(registry.get("quick").strategies)
    assert {"cross_reg", "fixed", "pbt", "grid_cv", "asha"} <= through_ray
    assert {"mnist1d-noise", "digits-augment", "lasso-diabetes"} <= set(IN_PROCESS)
    assert len(IN_PROCESS) >= 13
    tasks = {registry.get(name).task for name in END_TO_END}
    for name in IN_PROCESS:
        assert set(registry.get(name).strategies) <= through_ray, name
        assert registry.get(name).task in tasks, name


@pytest.mark.parametrize("name", IN_PROCESS)
def test_every_config_of_an_experiment_off_ray_trains(name):
    """Every trial config each strategy of the experiment would launch (grid CV: a fold trial
    at every grid value and the refit) trains the smoke epochs to finite scores."""
    import math

    import trainables
    from harness.strategies import get as get_strategy

    spec = registry.get(name).smoke()
    for strategy in spec.strategies:
        configs = get_strategy(strategy).configs_to_check(spec)
        assert configs, strategy
        for config in configs:
            rows = trainables.run_trial(config)
            assert [row["epoch"] for row in rows] == list(range(1, spec.epochs + 1)), strategy
            last = rows[-1]
            assert math.isfinite(last["train_loss"]), (strategy, config["rho"])
            assert math.isfinite(last["test_loss"]) and math.isfinite(last["fwd_train"]), strategy
            if spec.task == "classification":
                assert math.isfinite(last["test_acc"]), strategy


@pytest.mark.slow
@pytest.mark.parametrize("name", END_TO_END)
def test_every_strategy_finishes_and_has_a_row(smoke_runs, name):
    import analysis

    run = smoke_runs[name]
    meta = json.loads((run / "metadata.json").read_text())
    spec = registry.get(name)
    assert meta["status"] == "finished"
    assert meta["completed"] == {f"{s}-seed0": "finished" for s in spec.strategies}
    table = analysis.summarize(analysis.load_results(str(run)))
    assert sorted(table["strategy"]) == sorted(spec.strategies)
    assert (table["n_final"] == 1).all(), table[["strategy", "n_final", "status"]]
    assert set(table["status"]) == {"finished"}


@pytest.mark.slow
def test_every_strategy_directory_can_be_restored_by_tune(smoke_runs):
    from ray import tune

    from trainables.tune import train_fn

    run = smoke_runs["quick"]
    spec = registry.get("quick").smoke()
    for strategy in spec.strategies:
        path = str(run / f"{strategy}-seed0")
        assert tune.Tuner.can_restore(path), strategy
        results = tune.Tuner.restore(path, runner.with_resources(train_fn, spec)).get_results()
        rows = sum(len(json.loads("[" + ",".join(
            (Path(r.path) / "result.json").read_text().split("\n")[:-1]) + "]")) for r in results)
        assert len(results) == len(list((run / f"{strategy}-seed0").glob("*/result.json")))
        assert rows > 0 and results.num_errors == 0, strategy


@pytest.mark.slow
def test_every_checkpoint_holds_its_trials_rows_for_a_resume_to_put_back(smoke_runs):
    """What `recover_checkpointed_rows` reads: in each trial's newest checkpoint, the rows
    tagged with its own trial id are its result.json rows of those epochs, as reported."""
    run = smoke_runs["quick"]
    checked = 0
    for result in run.glob("*-seed0/*/result.json"):
        reported = {r["epoch"]: r for r in map(json.loads, result.read_text().splitlines())}
        newest = max(result.parent.glob("checkpoint_*"), default=None)
        if newest is None:
            continue
        saved = [json.loads(line) for line in (newest / "rows.jsonl").read_text().splitlines()]
        own = [r for r in saved if r["trial_id"] == saved[-1]["trial_id"]]
        assert own and own[-1]["trial_id"] == next(iter(reported.values()))["trial_id"], result
        for row in own:
            assert {k: row[k] for k in ("test_acc", "fwd_train", "flops_train", "train_loss")} == \
                {k: reported[row["epoch"]][k] for k in ("test_acc", "fwd_train", "flops_train",
                                                        "train_loss")}, result
        checked += 1
    assert checked >= 4


@pytest.mark.slow
def test_the_main_job_prints_progress_a_table_and_the_next_command(quick_output):
    run, lines = quick_output
    text = "\n".join(lines)
    assert len(lines) < 100, text
    spec = registry.get("quick")
    n = len(spec.strategies)
    numbers = set()
    for strategy in spec.strategies:  # numbered in launch order (largest first), not spec order
        started = [m for line in lines if (m := re.match(rf"\[(\d+)/{n}\] {strategy}-seed0 started", line))]
        assert len(started) == 1, strategy
        tag = started[0].group(0).removesuffix(" started")
        numbers.add(int(started[0].group(1)))
        assert any(line.startswith(f"{tag} finished") and "ETA" in line for line in lines), tag
    assert numbers == set(range(1, n + 1))
    table_head = next(i for i, line in enumerate(lines) if line.startswith("experiment quick-smoke ·"))
    assert "test acc %" in lines[table_head + 1]
    assert {line.split()[0] for line in lines[table_head + 2:table_head + 2 + len(spec.strategies)]} \
        == set(spec.strategies)
    for chatter in ("Checkpoint successfully created", "snapshotting", "Configuration for experiment",
                    "View detailed results", "INFO", "WARNING"):
        assert chatter not in text, chatter
    assert lines[-2].startswith(f"next: crossreg report {run}")


@pytest.mark.slow
def test_the_main_job_logged_every_trial_to_tensorboard_and_mlflow(quick_output):
    """`--log tensorboard --log mlflow`: each trial's rows read back with TensorBoard's own
    event reader (in its trial directory) and with the MLflow client (one MLflow run per
    trial, in an experiment named after the run directory, its config as params)."""
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = quick_output
    trials = {p.parent: len(p.read_text().splitlines()) for p in run.glob("*/*/result.json")}
    assert len(trials) >= len(registry.get("quick").strategies)
    for trial, n_rows in trials.items():
        # a trial that a scheduler paused and restarted (PBT) opens a new event file
        written = 0
        for events in trial.glob("events.out.tfevents.*"):
            acc = EventAccumulator(str(events), purge_orphaned_data=False)
            acc.Reload()
            written += len(acc.Scalars("ray/tune/val_acc"))
        assert written == n_rows, trial

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's file store, as the run's
    client = MlflowClient("file:" + str(run.parent / "mlruns"))
    experiment = client.get_experiment_by_name(run.name)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == len(trials)
    by_unit: dict[str, list[int]] = {}
    for r in runs:
        assert r.info.status == "FINISHED" and r.data.params["experiment"] == "quick-smoke"
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "val_acc")]
        by_unit.setdefault(r.data.tags["crossreg.unit"], []).append(len(steps))
    on_disk: dict[str, list[int]] = {}
    for trial, n_rows in trials.items():
        on_disk.setdefault(trial.parent.name, []).append(n_rows)
    assert {u: sorted(v) for u, v in by_unit.items()} == {u: sorted(v) for u, v in on_disk.items()}
