"""Trust: an interrupted run says so, `resume` continues it exactly, one driver per run.

Drivers run in subprocesses, in their own process group, and are interrupted the way a
terminal does it (SIGINT to the group); resumes run in this process's Ray session.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from interrupting import launch, read_trials, wait_for

from harness.cli.commands import main
from harness.run import runner

EPOCHS = 6


def _meta(run: Path) -> dict:
    return json.loads((run / "metadata.json").read_text())


def _quiet() -> runner.RunOptions:
    return runner.RunOptions(verbose=0, echo=lambda s: None)


def _ended(rows: list[dict]) -> bool:
    return bool(rows) and (rows[-1]["epoch"] >= EPOCHS or rows[-1].get("done") is True)


def _assert_every_epoch_once(trials: dict[str, list[dict]]) -> None:
    for name, rows in trials.items():
        its = [r["training_iteration"] for r in rows]
        assert its == list(range(1, len(its) + 1)), (name, its)


@pytest.mark.slow
def test_sigint_to_a_crossreg_run_interrupts_it_and_resume_finishes_it(tmp_path):
    """The issue's scenario, with the real trainable and the console script: Ctrl-C during
    cross_reg must not record it finished, must not start `fixed`, and must exit 130. One
    unit after another (`--sequential`): side by side, `fixed` starts with cross_reg."""
    import analysis

    storage = tmp_path / "runs"
    argv = [sys.executable, "-m", "harness.cli", "run", "quick", "--quiet", "--seeds", "1", "--sequential",
            "--storage", str(storage), "--strategies", "cross_reg", "fixed",
            "--set", "epochs=12", "--set", "n_train=400"]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: any(len(r) >= 2 for r in read_trials(
            next(storage.glob("quick-*/cross_reg-seed0"), storage / "none")).values()),
            timeout=240, what="cross_reg's second epoch")
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out[-2000:]
    run = next(storage.glob("quick-*"))
    meta = _meta(run)
    assert meta["status"] == "interrupted"
    assert "cross_reg-seed0" not in meta["completed"]
    assert not (run / "fixed-seed0").exists(), "a strategy was launched after the interrupt"
    assert any(line.startswith("crossreg:") and "crossreg resume" in line for line in out.splitlines())
    assert "Tuner.restore" not in out, out[-2000:]  # Tune's hint for one strategy's Tuner
    truncated = read_trials(run / "cross_reg-seed0")
    assert all(len(rows) < 12 for rows in truncated.values())

    time.sleep(2)  # a stopped driver's time is not the run's wall time
    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "resume", str(run), "--quiet"],
                             check=False, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    meta = _meta(run)
    assert meta["status"] == "finished"
    assert meta["completed"] == {"cross_reg-seed0": "finished", "fixed-seed0": "finished"}
    df = analysis.load_results(str(run))
    assert set(df["strategy"].astype(str)) == {"cross_reg", "fixed"}
    # epochs re-trained after the checkpoint the restore continued from are flagged re-runs
    # (cost, kept) and never a second result
    for _, trial in df[~df["rerun"]].groupby(["strategy", "trial_id"], observed=True):
        assert sorted(trial["epoch"]) == list(range(1, 13))  # every epoch, exactly once
    assert df.loc[df["rerun"], "strategy"].isin(["cross_reg"]).all()
    # wall time counts the drivers' fits only, not the 2 s the run stood still
    cross = df[df["strategy"] == "cross_reg"]
    span = cross["timestamp"].max() - (cross["timestamp"] - cross["time_this_iter_s"]).min()
    wall = analysis.summarize(df).set_index("strategy").loc["cross_reg", "wall_seconds"]
    assert wall == pytest.approx(meta["driver_seconds"]["cross_reg-seed0"])
    assert wall < span - 1.5, (wall, span)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["grid_cv"])
def test_a_search_interrupted_midway_continues_without_rerunning_ended_trials(
        ray_session, start_driver, strategy):
    driver = start_driver(strategy, epochs=EPOCHS, sleep_s=0.3)
    name = f"{strategy}-seed0"

    def some_ended_some_not() -> bool:
        exp = driver.experiment(name)
        trials = read_trials(exp) if exp else {}
        return sum(map(_ended, trials.values())) >= 2 and not all(map(_ended, trials.values()))

    wait_for(some_ended_some_not, timeout=240, what=f"{strategy} half-way")
    assert driver.interrupt() == 130
    run = driver.run_dir()
    before = read_trials(run / name)
    ended_before = {t: rows for t, rows in before.items() if _ended(rows)}
    assert ended_before

    runner.resume(str(run), _quiet())
    after = read_trials(run / name)
    expected = {"grid_cv": 3 * 2 + 1, "asha": 6}[strategy]
    assert len(after) == expected, sorted(after)
    for trial, rows in ended_before.items():  # ended trials were neither re-run nor re-created
        assert after[trial] == rows, trial
    _assert_every_epoch_once(after)
    assert _meta(run)["completed"] == {name: "finished"}


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory) -> Path:
    """One cross_reg run of the synthetic trainable, Ctrl-C'd after its second epoch. The
    tests that resume it each take a copy (`_copy_of`): every one starts from the same
    interrupted state, and one driver's start-up (its Ray session, its trial process)
    serves them all."""
    driver = launch(tmp_path_factory.mktemp("interrupted"), "cross_reg", EPOCHS, sleep_s=0.4)
    try:
        wait_for(lambda: any(len(r) >= 2 for r in read_trials(
            driver.experiment("cross_reg-seed0") or driver.storage).values()), 240, "two epochs")
        assert driver.interrupt() == 130
    finally:
        if driver.proc.poll() is None:
            driver.kill()
    run = driver.run_dir()
    assert run is not None and _meta(run)["status"] == "interrupted"
    return run


def _copy_of(run: Path, where: Path) -> Path:
    return Path(shutil.copytree(run, where / run.name, symlinks=True))


def _files(run: Path) -> dict[str, tuple[int, int]]:
    """Every file under `run` with its size and modification time: what a write would change."""
    return {str(f.relative_to(run)): (f.stat().st_size, f.stat().st_mtime_ns)
            for f in sorted(run.rglob("*")) if f.is_file()}


@pytest.mark.slow
def test_a_moved_run_resumes_into_its_new_place(ray_session, interrupted_run, tmp_path):
    """Tune's saved state names the directory the run started in (`interrupted_run`, left
    as it was) and this copy's first place (`old`, gone): the resume writes into neither."""
    started_in = _files(interrupted_run)
    old = _copy_of(interrupted_run, tmp_path / "first")
    new = tmp_path / "moved" / old.name
    new.parent.mkdir()
    shutil.move(str(old), str(new))

    runner.resume(str(new), _quiet())
    assert not old.exists(), "resume wrote into the old place"
    assert _files(interrupted_run) == started_in, "resume wrote into the place the run started in"
    (rows,) = read_trials(new / "cross_reg-seed0").values()
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    checkpoints = list((new / "cross_reg-seed0").glob("*/checkpoint_*"))
    assert checkpoints and all(str(c).startswith(str(new)) for c in checkpoints)


@pytest.mark.slow
def test_a_result_file_cut_short_by_a_killed_copy_resumes_whole(ray_session, interrupted_run, tmp_path):
    """A driver killed while copying result.json to storage leaves it cut: a half-written
    line, and rows lost behind the checkpoint the trial continues from. The resume cuts the
    line and puts the lost rows back from the checkpoint, as they were."""
    run = _copy_of(interrupted_run, tmp_path)
    (result,) = (run / "cross_reg-seed0").glob("*/result.json")
    before = [json.loads(line) for line in result.read_text().splitlines()]
    assert len(before) >= 2
    result.write_text(json.dumps(before[0]) + "\n"
                      + '{"epoch": 2, "train_loss": 0.4, "val_')  # the copy stopped here

    runner.resume(str(run), _quiet())
    rows = [json.loads(line) for line in result.read_text().splitlines()]  # all whole again
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    for old, new in zip(before, rows, strict=False):
        assert {k: new.get(k) for k in ("val_loss", "test_acc", "fwd_train", "flops_train")} \
            == {k: old.get(k) for k in ("val_loss", "test_acc", "fwd_train", "flops_train")}
    assert _meta(run)["status"] == "finished"


@pytest.mark.slow
def test_a_second_driver_is_refused_naming_the_first(ray_session, start_driver, tmp_path, capsys):
    driver = start_driver("cross_reg,grid_cv", epochs=EPOCHS, sleep_s=0.3)
    wait_for(lambda: (driver.experiment("cross_reg-seed0") or tmp_path / "none").exists(),
             240, "the first driver")
    run = driver.run_dir()
    assert main(["resume", str(run), "--quiet"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and f"pid {driver.proc.pid}" in err[0] and socket.gethostname() in err[0]
    assert driver.proc.wait(timeout=300) == 0  # the first one finished untouched
    meta = _meta(run)
    assert meta["completed"] == {"cross_reg-seed0": "finished", "grid_cv-seed0": "finished"}
    assert len(read_trials(run / "grid_cv-seed0")) == 3 * 2 + 1
    _assert_every_epoch_once(read_trials(run / "grid_cv-seed0"))


@pytest.mark.slow
def test_a_killed_drivers_lock_is_taken_over(ray_session, start_driver, tmp_path):
    driver = start_driver("cross_reg", epochs=EPOCHS, sleep_s=0.4)
    wait_for(lambda: any(len(r) >= 1 for r in read_trials(
        driver.experiment("cross_reg-seed0") or tmp_path).values()), 240, "an epoch")
    driver.kill()  # no chance to release anything
    lines: list[str] = []
    runner.resume(str(driver.run_dir()), runner.RunOptions(verbose=0, echo=lines.append))
    assert any(f"pid {driver.proc.pid}" in line and "taking over" in line for line in lines), lines
    assert _meta(driver.run_dir())["status"] == "finished"


@pytest.mark.slow
def test_a_failed_resume_leaves_the_status_alone(ray_session, interrupted_run, tmp_path, capsys):
    run = _copy_of(interrupted_run, tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["resume", str(run), "--address", f"127.0.0.1:{port}"]) == 2
    assert "cannot reach a Ray cluster" in capsys.readouterr().err
    assert _meta(run)["status"] == "interrupted"

    runner.resume(str(run), _quiet())
    finished = _meta(run)
    assert finished["status"] == "finished"
    lines: list[str] = []
    runner.resume(str(run), runner.RunOptions(verbose=0, echo=lines.append))  # nothing left
    assert "0 of 1" in lines[-1] and _meta(run) == finished
