"""Faults that cost nothing and lose nothing: a restart from scratch keeps the earlier
attempt's epochs as cost, and a storage write error mid-run stops the run in one line,
recorded, unlocked, and resumable once the storage is fixed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from interrupting import read_trials, wait_for

from harness.run import runner
from harness.run.results_io import keep_earlier_attempt, rerun_rows
from harness.run.storage import Storage

COST = ("fwd_train", "fwd_reg", "fwd_eval")


def _fwd(rows: list[dict]) -> float:
    return float(sum(r.get(c) or 0 for r in rows for c in COST))


def _trial(exp: Path, name: str, epochs: range) -> list[dict]:
    rows = [{"epoch": e, "training_iteration": e, "fwd_train": 100, "fwd_reg": 0,
             "fwd_eval": 10} for e in epochs]
    d = exp / name
    (d / "checkpoint_000000").mkdir(parents=True)
    (d / "checkpoint_000000" / "state.json").write_text("{}")
    (d / "params.json").write_text("{}")
    (d / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_an_earlier_attempt_becomes_cost_only_and_twice_is_once(tmp_path):
    exp = tmp_path / "pbt-seed0"
    a = _trial(exp, "train_a_00000", range(1, 4))
    b = _trial(exp, "train_a_00001", range(1, 3))
    (exp / "train_a_00001" / "rerun.json").write_text(json.dumps({"epoch": 1, "fwd_train": 7}) + "\n")
    (exp / "train_a_00002").mkdir()  # a trial that never reported: nothing to keep
    (exp / "tuner.pkl").write_bytes(b"x")
    (exp / "experiment_state-2026-12-06_07-00-00.json").write_text("{}")
    storage = Storage(str(exp))

    assert keep_earlier_attempt(storage) == len(a) + len(b) + 1
    assert sorted(p.name for p in exp.iterdir()) == ["train_a_00000", "train_a_00001"]
    for d in exp.iterdir():
        assert [p.name for p in d.iterdir()] == ["rerun.json"], d
    assert _fwd(rerun_rows(storage)) == _fwd(a) + _fwd(b) + 7
    assert keep_earlier_attempt(storage) == len(a) + len(b) + 1  # a crash half-way: no doubles
    assert _fwd(rerun_rows(storage)) == _fwd(a) + _fwd(b) + 7


@pytest.mark.slow
def test_a_restarted_synchronous_pbt_keeps_its_first_attempts_cost(ray_session, start_driver):
    """Ray cannot restore a synchronous PBT, so `resume` restarts it; the epochs the first
    attempt ran were paid for and stay in every cost total."""
    import analysis

    driver = start_driver("pbt", epochs=20, sleep_s=0.3)
    wait_for(lambda: sum(map(len, read_trials(driver.experiment("pbt-seed0") or Path("/none"))
                             .values())) >= 4, 240, "four PBT epochs")
    driver.kill()
    run = driver.run_dir()
    assert run is not None
    first = [r for rows in read_trials(run / "pbt-seed0").values() for r in rows]
    assert first

    lines: list[str] = []
    runner.resume(str(run), runner.RunOptions(verbose=0, echo=lines.append))
    assert any("re-run cost" in line for line in lines), lines
    second = [r for rows in read_trials(run / "pbt-seed0").values() for r in rows]
    assert len(second) == 2 * 20  # population 2, every epoch once
    df = analysis.load_results(str(run))
    summary = analysis.summarize(df, cost="fwd").set_index("strategy")
    assert summary.loc["pbt", "rerun_epochs"] == len(first)
    assert summary.loc["pbt", "fwd_total"] == pytest.approx(_fwd(first) + _fwd(second))
    assert summary.loc["pbt", "status"] == "finished"


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MiB tmpfs of its own that a test can fill: root ignores file permissions, and a
    read-only remount is refused while Tune holds result files open, but a full disk stops
    root's writes too (ENOSPC). Needs root with CAP_SYS_ADMIN (CI's container)."""
    where = tmp_path / "disk"
    where.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(where)):
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN), and neither "
                    "chmod nor a full disk can otherwise deny root a write")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


DRIVER = """
import functools, sys
from harness import cli
from harness.run import runner
runner.RunOptions = functools.partial(runner.RunOptions, extra_config={"sleep_s": 0.3})
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_full_disk_mid_run_is_one_line_and_resume_finishes(ray_session, small_disk):
    storage = small_disk / "runs"
    argv = [sys.executable, "-c", DRIVER, "run", "quick", "--seeds", "1", "--quiet",
            "--storage", str(storage), "--trainable", "harness.testing:synthetic_train_fn",
            "--strategies", "cross_reg", "fixed", "--set", "epochs=12", "--set", "n_train=120"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    filler = small_disk / "filler"
    try:
        wait_for(lambda: any(len(rows) >= 3 for rows in read_trials(
            next(storage.glob("quick-*/cross_reg-seed0"), storage / "none")).values()),
            timeout=240, what="cross_reg's third epoch")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True,
                       check=False)  # until the disk is full
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run = next(storage.glob("quick-*"))
    assert proc.returncode not in (0, 130), err[-3000:]
    assert "Traceback" not in err + out, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("crossreg:")]
    assert len(lines) == 1, err[-3000:]
    assert str(run) in lines[0] and "No space left on device" in lines[0], lines[0]
    assert f"crossreg resume {run}" in lines[0]
    meta = json.loads((run / "metadata.json").read_text())
    # a full disk takes metadata.json with it: then the line says it still says running
    assert meta["status"] != "running" or "still says running" in lines[0], lines[0]
    assert not list(run.glob(".write-test-*")) and not list(run.glob(".*.tmp"))

    filler.unlink()
    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "resume", str(run), "--quiet"],
                             capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "finished"
    assert meta["completed"] == {"cross_reg-seed0": "finished", "fixed-seed0": "finished"}
    for name in ("cross_reg-seed0", "fixed-seed0"):
        (rows,) = read_trials(run / name).values()
        assert [r["epoch"] for r in rows] == list(range(1, 13)), name
