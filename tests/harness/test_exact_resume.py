"""Exact resume, per strategy (issue 20, item 1), for every registered strategy: a seeded
run interrupted at a point chosen from the rows it wrote, then resumed, ends with the same
trials, the same epochs per trial, the same final model and the same metrics as the same run
uninterrupted; its cost is the uninterrupted cost plus the re-run rows kept in rerun.json
(the rows of a restarted strategy's first attempt, or epochs trained again from a checkpoint).

The interrupt is the Ctrl-C path in this process: a Tune callback (armed once, through a
marker file, because Tune pickles callbacks into tuner.pkl and a restored Tuner would carry
it along) sends SIGINT to this process after the N-th result; the harness's own handler
(harness.run.interrupts) turns it into Tune's graceful stop, records the run `interrupted` and
raises `Interrupted`, which is what an interrupted driver leaves behind. One trial runs at a
time (a trial holds both CPUs of the module's Ray session), so the order in which results
reach the schedulers, and with it every decision of an uninterrupted run, is itself
reproducible: a difference after resume can only come from state the resume lost.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
from pathlib import Path
from typing import Any

import pytest

from analysis.contract import RESUMED_INEXACT_KEY
from harness.errors import Interrupted
from harness.experiments import registry
from harness.run import runner
from harness.run.results_io import final_row, rerun_rows, strategy_rows, total_forward
from harness.run.storage import Storage
from harness.strategies import names

SYNTHETIC = "harness.testing:synthetic_train_fn"
EPOCHS = 6

#: every registered strategy (a test below keeps this list whole): the synthetic trainable
#: accepts each one's trial config (deep_ensemble's `members`, trivial_augment's flag,
#: concrete_dropout's family and t1t2's mode are keys it reads past; the machinery under test,
#: checkpoints, schedulers, restore and cost accounting, does not depend on them). ASHA, TPE,
#: random, grid CV and the single runs continue from Tune's state; HyperBand, PBT and PB2
#: restart from scratch on resume (`restorable=False`: HyperBand's brackets cannot be rebuilt,
#: Ray 2.60 hangs restoring a synchronous PBT) and their first attempt's rows are rerun cost
STRATEGIES = sorted(names())

#: row keys that differ between two runs of the same trial (timings, ids, Tune's counters)
VOLATILE = {"train_seconds", "device_seconds", "time_this_iter_s", "time_total_s",
            "timestamp", "time_since_restore", "iterations_since_restore", "pid", "hostname",
            "node_ip", "node_id", "date", "trial_id", "checkpoint_dir_name", "should_checkpoint",
            "config", "experiment_tag"}


def _spec(strategy: str) -> Any:
    return registry.get("quick").replace(
        name="exact", epochs=EPOCHS, n_train=120, batch_size=32, reg_batch_size=16, seeds=1,
        strategies=(strategy,), asha_samples=6, asha_grace_period=1, asha_reduction_factor=3,
        random_samples=4, grid_values=(0.01, 0.1), cv_folds=2, cpus_per_trial=2,
        pbt_population=2, pbt_interval=2, ensemble_members=2)


def _options(storage: Path) -> runner.RunOptions:
    return runner.RunOptions(storage=str(storage), trainable=SYNTHETIC, verbose=0,
                             echo=lambda s: None)


def _interrupting_callback(after: int, marker: str) -> Any:
    from ray.tune import Callback

    class InterruptAfter(Callback):
        def __init__(self) -> None:
            self.seen = 0

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                            **info: Any) -> None:
            self.seen += 1
            if self.seen == after and not os.path.exists(marker):
                Path(marker).write_text(str(after))
                os.kill(os.getpid(), signal.SIGINT)

    return InterruptAfter()


def _with_interrupt(monkeypatch: pytest.MonkeyPatch, after: int, marker: str) -> None:
    """Every Tuner this test builds gets the interrupting callback (the strategies build
    their run config through trainables.tune.run_config)."""
    import trainables.tune as ttune

    original = ttune.run_config

    def run_config(*args: Any, **kwargs: Any) -> Any:
        config = original(*args, **kwargs)
        config.callbacks = [*(config.callbacks or []), _interrupting_callback(after, marker)]
        return config

    monkeypatch.setattr(ttune, "run_config", run_config)


def _stable(row: dict) -> dict:
    return {k: "nan" if isinstance(v, float) and math.isnan(v) else v
            for k, v in row.items() if k not in VOLATILE}


def _key(rows: list[dict]) -> str:
    """A trial across runs: its role, split and rho (trial ids are random per run)."""
    cfg = rows[0].get("config", {})
    return json.dumps([cfg.get(k) for k in ("role", "n_folds", "fold", "rho")], sort_keys=True)


def _by_key(exp: Path) -> dict[str, list[dict]]:
    return {_key(rows): rows for rows in strategy_rows(Storage(str(exp))).values() if rows}


def _meta(run: Path) -> dict:
    return json.loads((run / "metadata.json").read_text())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(
        ray_session, tmp_path, monkeypatch, strategy):
    if strategy == "tpe":
        pytest.importorskip("optuna")
    spec = _spec(strategy)
    name = f"{strategy}-seed0"
    clean_run = Path(runner.start(spec, _options(tmp_path / "clean")))
    clean = _by_key(clean_run / name)
    rows_written = sum(len(r) for r in clean.values())
    # the interrupt point: a row of the uninterrupted run, drawn from a generator of the
    # test's own (stable across runs); from the third row on, so some state is on record
    after = random.Random(f"exact-resume:{strategy}").randint(2, rows_written - 1)

    _with_interrupt(monkeypatch, after, str(tmp_path / "interrupted-once"))
    with pytest.raises(Interrupted):
        runner.start(spec, _options(tmp_path / "cut"))
    (run,) = (tmp_path / "cut").iterdir()
    assert _meta(run)["status"] == "interrupted"
    assert name not in _meta(run)["completed"]
    runner.resume(str(run), _options(tmp_path / "cut"))
    assert _meta(run)["completed"] == {name: "finished"}
    assert RESUMED_INEXACT_KEY not in _meta(run)  # it declares an exact resume: proven below

    resumed = _by_key(run / name)
    assert sorted(resumed) == sorted(clean), f"other trials (interrupted after {after} rows)"
    epochs = {k: len(rows) for k, rows in clean.items()}
    assert {k: len(rows) for k, rows in resumed.items()} == epochs, \
        f"other epochs per trial (interrupted after {after} rows)"
    for key, rows in clean.items():
        assert [r["epoch"] for r in resumed[key]] == [r["epoch"] for r in rows], key
        assert [_stable(r) for r in resumed[key]] == [_stable(r) for r in rows], key
    metric, mode = spec.metric, spec.mode
    clean_final = final_row(strategy_rows(Storage(str(clean_run / name))), metric, mode, EPOCHS)
    resumed_final = final_row(strategy_rows(Storage(str(run / name))), metric, mode, EPOCHS)
    assert clean_final is not None and resumed_final is not None
    assert _key([resumed_final]) == _key([clean_final])  # the same trial, same config
    assert _stable(resumed_final) == _stable(clean_final)
    # the cost: the uninterrupted run's plus the re-run epochs, which are epochs the kept
    # rows hold too (trained again from an earlier checkpoint, or by a restart)
    exp = Storage(str(run / name))
    kept = [r for rows in strategy_rows(exp).values() for r in rows]
    reruns = rerun_rows(exp)
    clean_cost = total_forward([r for rows in clean.values() for r in rows])
    assert total_forward(kept) == pytest.approx(clean_cost)
    assert total_forward(kept + reruns) == pytest.approx(clean_cost + total_forward(reruns))
    assert {r["epoch"] for r in reruns} <= {r["epoch"] for r in kept}


def test_every_registered_strategy_declares_the_exact_resume_proven_here():
    """The declaration the run trusts (`Strategy.exact_resume`: no `resumed: decisions may
    differ` flag on resume) is made only by strategies this module resumes exactly."""
    from harness.strategies import STRATEGIES as REGISTERED

    assert {n for n, s in REGISTERED.items() if s.exact_resume} == set(STRATEGIES)


#: a strategy of a user's own, as `strategies = ["userinexact:STRATEGY"]` names it: fixed's
#: trial under another name, declaring nothing about its resume
USER_MODULE = """
from dataclasses import replace
from harness.strategies import STRATEGIES
STRATEGY = replace(STRATEGIES["fixed"], name="mine", exact_resume=False)
"""


def test_a_strategy_without_a_declared_exact_resume_is_flagged_after_a_resume(
        ray_session, tmp_path, monkeypatch):
    """A user's strategy may keep scheduler state in memory that Ray 2.60 does not restore:
    once resumed mid-way it is recorded in metadata.json and the table says its decisions
    may differ, rather than `finished` as if it were the uninterrupted run."""
    import warnings

    from analysis import load_results, summarize

    (tmp_path / "userinexact.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = _spec("fixed").replace(strategies=("userinexact:STRATEGY",))
    _with_interrupt(monkeypatch, 3, str(tmp_path / "interrupted-once"))
    with pytest.raises(Interrupted):
        runner.start(spec, _options(tmp_path / "cut"))
    (run,) = (tmp_path / "cut").iterdir()
    lines: list[str] = []
    runner.resume(str(run), runner.RunOptions(storage=str(tmp_path / "cut"), trainable=SYNTHETIC,
                                              verbose=0, echo=lines.append))
    meta = _meta(run)
    assert meta["completed"] == {"mine-seed0": "finished"}
    assert list(meta[RESUMED_INEXACT_KEY]) == ["mine-seed0"]
    assert any("decisions may differ" in line for line in lines), lines
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = summarize(load_results(run), cost="fwd").set_index("strategy")
    assert summary.loc["mine", "status"] == "resumed: decisions may differ (1 of 1 seed)"


class _Storage:
    """What `recorded_rows` reads of a Tune trial's storage context."""

    def __init__(self, directory: Path) -> None:
        from pyarrow.fs import LocalFileSystem

        self.storage_filesystem = LocalFileSystem()
        self.trial_dir_name = directory.name
        self.trial_fs_path = str(directory)


class _Trial:
    def __init__(self, trial_id: str, directory: Path) -> None:
        self.trial_id, self.storage = trial_id, _Storage(directory)


def test_replayed_rows_rebuild_the_rungs_of_the_live_asha(tmp_path):
    """The rungs a restored ASHA rebuilds from the rows on record equal those of the ASHA
    that saw the results live, interleaved across trials, stops included (no Ray needed)."""
    from harness.strategies.asha import ReplayingASHA

    def asha() -> ReplayingASHA:
        return ReplayingASHA(time_attr="training_iteration", metric="val_acc", mode="max",
                             max_t=9, grace_period=1, reduction_factor=3, brackets=1)

    rng = random.Random(20)
    live, trials = asha(), []
    for i in range(8):
        trials.append(_Trial(f"t{i}", tmp_path / f"t{i}"))
        live.on_trial_add(None, trials[-1])
    rows: dict[str, list[dict]] = {t.trial_id: [] for t in trials}
    running = list(trials)
    while running:  # one result at a time from a random running trial, as Tune delivers them
        trial = rng.choice(running)
        row = {"training_iteration": len(rows[trial.trial_id]) + 1, "val_acc": rng.random()}
        rows[trial.trial_id].append(row)
        if live.on_trial_result(None, trial, row) == "STOP" or row["training_iteration"] >= 9:
            running.remove(trial)
    for trial in trials:
        directory = Path(trial.storage.trial_fs_path)
        directory.mkdir()
        (directory / "result.json").write_text(
            "".join(json.dumps(r) + "\n" for r in rows[trial.trial_id]) + '{"training_it')
    assert any(len(r) < 9 for r in rows.values()), "the live ASHA stopped no trial"

    restored = asha()
    for trial in reversed(trials):  # Tune re-adds them newest first: the order must not matter
        restored.on_trial_add(None, trial)
    live_rungs = [(m, dict(r)) for m, r in live._brackets[0]._rungs]
    assert [(m, dict(r)) for m, r in restored._brackets[0]._rungs] == live_rungs
    assert any(len(r) > 1 for _, r in live_rungs)
