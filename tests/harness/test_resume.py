"""Robustness: a killed driver is resumed with every trial's rows exactly once, and a trial
that raises at a random epoch is retried from its checkpoint to the fault-free result."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli.commands import main
from harness.experiments import registry
from harness.run import runner
from harness.strategies import cross_reg
from harness.strategies.common import StrategyContext
from harness.testing import fail_once

SYNTHETIC = "harness.testing:synthetic_train_fn"
EPOCHS = 6

DRIVER = """
import sys
from harness.experiments import registry
from harness.run import runner
spec = registry.get("quick").replace(
    name="killme", epochs={epochs}, n_train=120, batch_size=32, reg_batch_size=16, seeds=1,
    strategies=("cross_reg", "grid_cv", "pbt", "asha"), pbt_population=4, pbt_interval=2,
    asha_samples=4, asha_grace_period=1, grid_values=(0.01, 0.1), cv_folds=2)
runner.start(spec, runner.RunOptions(storage=sys.argv[1], trainable="{trainable}", verbose=0,
                                     extra_config={{"sleep_s": 0.25}}))
"""


def _rows(exp: Path) -> dict[str, list[dict]]:
    return {d.name: [json.loads(x) for x in (d / "result.json").read_text().splitlines() if x]
            for d in exp.iterdir() if (d / "result.json").exists()}


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the driver to make progress")


@pytest.mark.slow
def test_killed_driver_resumes_with_every_row_exactly_once(ray_session, tmp_path, capsys):
    storage = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(epochs=EPOCHS, trainable=SYNTHETIC), str(storage)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def grid_under_way() -> bool:  # grid_cv restores with Tuner.restore (and its searcher)
            exp = next(storage.glob("killme-*/grid_cv-seed0"), None)
            return exp is not None and sum(len(r) for r in _rows(exp).values()) >= 8
        _wait_for(grid_under_way, timeout=240)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started
        proc.wait()
    run = next(storage.glob("killme-*"))
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "running" and "grid_cv-seed0" not in meta["completed"]

    assert main(["resume", str(run), "--quiet"]) == 0, capsys.readouterr().err
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "finished"
    spec = runner.spec_from_metadata(meta)
    expected_trials = {"cross_reg": 1, "pbt": spec.pbt_population,
                       "grid_cv": len(spec.grid_values) * spec.cv_folds + 1,
                       "asha": spec.asha_samples}
    for strategy, n in expected_trials.items():
        trials = _rows(run / f"{strategy}-seed0")
        assert len(trials) == n, (strategy, sorted(trials))
        for name, rows in trials.items():
            its = [r["training_iteration"] for r in rows]
            assert its == list(range(1, len(its) + 1)), (strategy, name, its)
            if strategy != "asha":
                assert len(rows) == EPOCHS, (strategy, name, its)
    roles = sorted(r[-1]["role"] for r in _rows(run / "grid_cv-seed0").values())
    assert roles.count("refit") == 1


def _final_rows(ctx: StrategyContext) -> list[dict]:
    """The trial's rows as the runner leaves them: re-run epochs moved to rerun.json."""
    from harness.run.results_io import dedupe_results
    from harness.run.storage import Storage

    grid = cross_reg.build(ctx).fit()
    assert grid.num_errors == 0
    path = Path(grid[0].path)
    dedupe_results(Storage(str(path.parent)))
    return [json.loads(x) for x in (path / "result.json").read_text().splitlines() if x]


VOLATILE = {"train_seconds", "device_seconds", "observe_seconds", "time_this_iter_s", "time_total_s",
            "timestamp", "time_since_restore", "iterations_since_restore", "pid", "hostname", "node_ip",
            "date", "trial_id", "checkpoint_dir_name", "done", "should_checkpoint", "config"}


def _stable(row: dict) -> dict:
    """The row without timings; NaN made comparable (json gives each NaN its own object)."""
    return {k: "nan" if isinstance(v, float) and v != v else v
            for k, v in row.items() if k not in VOLATILE}


@pytest.mark.slow
def test_a_failing_trial_retries_from_its_checkpoint_to_the_fault_free_result(ray_session, tmp_path):
    from ray import tune

    from trainables.tune import train_fn

    spec = registry.get("quick").replace(name="faults", epochs=EPOCHS, n_train=150, width=32,
                                         batch_size=32, reg_batch_size=32, max_failures=2)
    fail_at = random.randint(1, EPOCHS - 1)
    resources = {"cpu": 1, "gpu": 0}
    clean = _final_rows(StrategyContext(
        strategy=cross_reg.STRATEGY, spec=spec, seed=0, storage_path=str(tmp_path / "clean"), verbose=0,
        trainable=tune.with_resources(train_fn, resources)))
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    faulty = _final_rows(StrategyContext(
        strategy=cross_reg.STRATEGY, spec=spec, seed=0, storage_path=str(tmp_path / "faulty"), verbose=0,
        trainable=tune.with_resources(fail_once(train_fn, fail_at, str(marker_dir)),
                                      resources)))
    assert len(list(marker_dir.iterdir())) == 1, "the injected failure did not happen"
    reruns = list((tmp_path / "faulty").rglob("rerun.json"))
    rerun_epochs = [json.loads(x)["epoch"] for f in reruns for x in f.read_text().splitlines()]
    assert all(e <= fail_at for e in rerun_epochs)  # the epochs after the last checkpoint
    assert [r["epoch"] for r in faulty] == list(range(1, EPOCHS + 1)), f"fail_at={fail_at}"
    assert _stable(faulty[-1]) == _stable(clean[-1]), f"fail_at={fail_at}"
    assert [_stable(r) for r in faulty] == [_stable(r) for r in clean], f"fail_at={fail_at}"


def test_trials_failing_past_their_retries_are_retried_by_resume(ray_session, tmp_path):
    from harness.errors import TrialsFailed

    spec = registry.get("quick").replace(name="errs", epochs=4, n_train=120, batch_size=32,
                                         strategies=("fixed",), seeds=1, max_failures=0)
    options = runner.RunOptions(
        storage=str(tmp_path / "runs"), trainable=SYNTHETIC, verbose=0, echo=lambda s: None,
        extra_config={"fail_once_at": 2, "fail_marker": str(tmp_path / "failed-once")})
    with pytest.raises(TrialsFailed, match="fixed-seed0"):
        runner.start(spec, options)
    (run,) = (tmp_path / "runs").iterdir()
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["completed"] == {"fixed-seed0": "errored"}
    runner.resume(str(run), runner.RunOptions(verbose=0, echo=lambda s: None))
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["completed"] == {"fixed-seed0": "finished"} and meta["status"] == "finished"
    (rows,) = _rows(run / "fixed-seed0").values()
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]  # continued from the epoch-2 checkpoint


def test_a_snapshot_cut_short_by_a_kill_is_no_state_to_restore(tmp_path):
    """A driver killed while Tune copied its experiment snapshot to storage leaves the newest
    snapshot empty (seen in CI under load); `Tuner.restore` would fail on it, so the runner
    must not try: the (strategy, seed) restarts clean instead."""
    from harness.run.saved_state import has_state
    from harness.run.storage import Storage

    exp = tmp_path / "grid_cv-seed0"
    exp.mkdir()
    (exp / "tuner.pkl").write_bytes(b"tuner")
    (exp / "experiment_state-2026-11-26_06-00-00.json").write_text('{"trial_data": []}')
    assert has_state(Storage(str(exp)))
    (exp / "experiment_state-2026-11-26_06-35-28.json").write_text("")  # newer, cut short
    assert not has_state(Storage(str(exp)))
    (exp / "experiment_state-2026-11-26_06-35-28.json").write_text('{"trial_data": [')
    assert not has_state(Storage(str(exp)))


def test_a_search_state_emptied_by_a_full_disk_is_no_state_to_restore(tmp_path):
    """A full disk left the variant generator's newest state file empty beside a whole
    snapshot (seen: the restored generator then launched a trial with an empty config, which
    failed past its retries); the (strategy, seed) restarts clean instead."""
    from ray import cloudpickle

    from harness.run.saved_state import has_state
    from harness.run.storage import Storage

    exp = tmp_path / "fixed-seed0"
    exp.mkdir()
    (exp / "tuner.pkl").write_bytes(b"tuner")
    (exp / "experiment_state-2026-12-07_00-27-23.json").write_text('{"trial_data": []}')
    for prefix in ("basic-variant-state-", "searcher-state-"):
        (exp / f"{prefix}2026-12-07_00-20-00.json").write_bytes(cloudpickle.dumps({"ok": 1}))
    assert has_state(Storage(str(exp)))
    for prefix in ("basic-variant-state-", "searcher-state-"):
        newest = exp / f"{prefix}2026-12-07_00-27-23.json"
        newest.write_bytes(b"")  # the full disk's
        assert not has_state(Storage(str(exp))), prefix
        newest.write_bytes(cloudpickle.dumps({"ok": 2})[:-3])  # cut short
        assert not has_state(Storage(str(exp))), prefix
        newest.write_bytes(cloudpickle.dumps({"ok": 2}))
    assert has_state(Storage(str(exp)))
    searcher = exp / "searcher-state-2026-12-07_00-30-00.pkl"  # a searcher's own JSON save
    searcher.write_text('{"grid": [0.1, 0.3]}')
    assert has_state(Storage(str(exp)))
    searcher.write_text('{"grid": [0.1, ')
    assert not has_state(Storage(str(exp)))
