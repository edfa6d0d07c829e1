"""Every strategy through Ray Tune on the synthetic trainable, with independent accounting.

The expected cost of each strategy is recomputed here from the trial count, the epochs each
trial actually ran and the split sizes (harness.testing.epoch_cost is a closed form of the
config), and compared with the sum of the per-row deltas that landed in result.json:
PBT clones, ASHA stops, CV folds and the refit all included.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from harness.experiments import registry
from harness.run import loggers, runner
from harness.run.results_io import total_forward
from harness.strategies.grid_cv import select
from harness.testing import epoch_cost

SYNTHETIC = "harness.testing:synthetic_train_fn"

EPOCHS = 6


def _spec():
    return registry.get("quick").replace(
        name="acct", epochs=EPOCHS, n_train=120, batch_size=32, reg_batch_size=16,
        strategies=("cross_reg", "fixed", "pbt", "grid_cv", "asha", "random", "hyperband", "pb2",
                    "tpe"), seeds=1,
        pbt_population=4, pbt_interval=2, asha_samples=6, asha_grace_period=1, random_samples=3,
        grid_values=(0.01, 0.1, 1.0), cv_folds=3)


def _trials(exp: Path) -> list[tuple[dict, list[dict]]]:
    out = []
    for d in sorted(p for p in exp.iterdir() if (p / "params.json").exists()):
        params = json.loads((d / "params.json").read_text())
        rows = [json.loads(line) for line in (d / "result.json").read_text().splitlines() if line]
        out.append((params, rows))
    return out


def _cost(config: dict) -> int:
    c = epoch_cost(config)
    return c["fwd_train"] + c["fwd_reg"] + c["fwd_eval"]


@pytest.fixture(scope="module")
def run_dir(ray_session, tmp_path_factory):
    spec = _spec()
    lines: list[str] = []
    # one after another (`--sequential`): the reference the side-by-side run is compared with
    options = runner.RunOptions(storage=str(tmp_path_factory.mktemp("acct")), trainable=SYNTHETIC,
                                verbose=0, concurrent=False, echo=lines.append)
    path = Path(runner.start(spec, options))
    return path, lines


def test_run_directory_layout_and_metadata(run_dir):
    path, lines = run_dir
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["status"] == "finished" and meta["end_time"]
    assert meta["seeds"] == [0] and meta["spec"]["name"] == "acct"
    assert set(meta["completed"].values()) == {"finished"}
    assert meta["versions"]["ray"] and "git_commit" in meta
    expected = {f"{s}-seed0" for s in _spec().strategies}
    assert {p.name for p in path.iterdir() if p.is_dir()} == expected
    assert sum(" started" in line for line in lines) == len(expected)  # a start and an end
    assert sum(" finished: " in line for line in lines) == len(expected)  # line each


def test_a_run_without_log_writes_result_json_alone(run_dir):
    """No `--log`: every trial's record is result.json; none of the CSV and TensorBoard files
    Tune adds by itself (they cost a tensorboardX import and ~7 ms a row), and Tune's switch
    is put back in this process after each Tuner."""
    path, _ = run_dir
    trial_dirs = [d for exp in path.iterdir() if exp.is_dir() for d in exp.iterdir()
                  if (d / "params.json").exists()]
    assert len(trial_dirs) >= len(_spec().strategies)
    for d in trial_dirs:
        assert (d / "result.json").stat().st_size > 0, d
        assert not (d / "progress.csv").exists() and not list(d.glob("events.out.tfevents.*")), d
    assert loggers.TUNE_AUTO_LOGGERS_OFF not in os.environ  # the module's run was in-process


def test_every_trial_reports_once_per_epoch_without_duplicates(run_dir):
    path, _ = run_dir
    for exp in path.iterdir():
        if exp.is_dir():
            for _, rows in _trials(exp):
                its = [r["training_iteration"] for r in rows]
                assert its == list(range(1, len(its) + 1))
                assert [r["epoch"] for r in rows] == its


def test_single_run_strategies_cost_one_trial(run_dir):
    path, _ = run_dir
    for s, mode in (("cross_reg", "cross_reg"), ("fixed", "fixed")):
        trials = _trials(path / f"{s}-seed0")
        assert len(trials) == 1
        params, rows = trials[0]
        assert params["mode"] == mode and len(rows) == EPOCHS
        assert total_forward(rows) == EPOCHS * _cost(params)
    assert _trials(path / "cross_reg-seed0")[0][1][0]["fwd_reg"] > 0
    assert _trials(path / "fixed-seed0")[0][1][0]["fwd_reg"] == 0


def test_pbt_cost_counts_every_member_including_clones(run_dir):
    path, _ = run_dir
    trials = _trials(path / "pbt-seed0")
    spec = _spec()
    assert len(trials) == spec.pbt_population
    assert all(len(rows) == EPOCHS for _, rows in trials)  # synch PBT: all run every epoch
    expected = spec.pbt_population * EPOCHS * _cost(trials[0][0])
    assert sum(total_forward(rows) for _, rows in trials) == expected
    # exploitation happened: some member's rho changed mid-run (a clone of a better donor)
    changed = [any(rows[i]["rho/sigma_0"] != rows[0]["rho/sigma_0"] for i in range(len(rows)))
               for _, rows in trials]
    assert any(changed)
    assert all(p["mode"] == "fixed" and p["role"] == "member" for p, _ in trials)


def test_asha_cost_counts_stopped_trials(run_dir):
    path, _ = run_dir
    spec = _spec()
    trials = _trials(path / "asha-seed0")
    assert len(trials) == spec.asha_samples
    rungs = {spec.grace_period * spec.asha_reduction_factor ** k for k in range(5)} | {EPOCHS}
    ran = [len(rows) for _, rows in trials]
    assert all(n in rungs for n in ran), ran  # ASHA stops only at rung milestones
    assert min(ran) < EPOCHS and max(ran) == EPOCHS  # some stopped, some completed
    expected = sum(n * _cost(p) for (p, _), n in zip(trials, ran))
    assert sum(total_forward(rows) for _, rows in trials) == expected


def test_grid_cv_cost_counts_folds_and_refit(run_dir):
    path, _ = run_dir
    spec = _spec()
    trials = _trials(path / "grid_cv-seed0")
    folds = [(p, rows) for p, rows in trials if p["role"] == "fold"]
    refits = [(p, rows) for p, rows in trials if p["role"] == "refit"]
    assert len(folds) == len(spec.grid_values) * spec.cv_folds and len(refits) == 1
    assert sorted((p["rho"], p["fold"]) for p, _ in folds) == sorted(
        (v, f) for v in spec.grid_values for f in range(spec.cv_folds))
    pool = spec.trial.n_train
    held = pool // spec.cv_folds
    fold_cost = EPOCHS * ((pool - held) + held * spec.trial.K)  # train on k-1 folds, eval the fold
    n_reg = round(spec.trial.reg_fraction * pool)  # equal_rows: the refit trains on the training
    refit_cost = EPOCHS * ((pool - n_reg) + n_reg * spec.trial.K)  # split, and validates
    expected = len(folds) * fold_cost + refit_cost
    assert sum(total_forward(rows) for _, rows in trials) == expected
    # the refit uses the value with the best mean validation accuracy across folds
    means = {v: sum(rows[-1]["val_acc"] for p, rows in folds if p["rho"] == v) / spec.cv_folds
             for v in spec.grid_values}
    assert refits[0][0]["rho"] == max(means, key=means.get)
    # the refit trains on the rows every other final model trains on (protocol equal_rows):
    # the ordinary hold-out split, so it has validation metrics too
    assert refits[0][0]["n_folds"] == 1 and refits[0][0]["fold"] is None
    assert refits[0][1][-1]["n_train"] == pool - n_reg and math.isfinite(refits[0][1][-1]["val_loss"])


@pytest.mark.parametrize("strategy,n", [("random", 3), ("hyperband", 6), ("pb2", 4), ("tpe", 6)])
def test_a_rivals_cost_is_the_sum_over_its_trials(run_dir, strategy, n):
    from harness.run.results_io import rerun_rows
    from harness.run.storage import Storage

    path, _ = run_dir
    exp = path / f"{strategy}-seed0"
    trials = _trials(exp)
    assert len(trials) == n
    reruns = rerun_rows(Storage(str(exp)))
    expected = sum(len(rows) * _cost(p) for p, rows in trials)
    expected += sum(r["fwd_train"] + r["fwd_reg"] + r["fwd_eval"] for r in reruns)
    assert sum(total_forward(rows) for _, rows in trials) + total_forward(reruns) == expected
    ran = [len(rows) for _, rows in trials]
    if strategy in ("random", "pb2"):
        assert ran == [EPOCHS] * n  # run to the end (pb2: synchronous, like pbt)
    if strategy == "hyperband":
        assert min(ran) < EPOCHS and max(ran) == EPOCHS  # it stopped some
        stopped = {d.name for d in exp.iterdir() if (d / "scheduler_stop.json").exists()}
        short = {d.name for d in exp.iterdir() if (d / "result.json").exists()
                 and len((d / "result.json").read_text().splitlines()) < EPOCHS}
        unmarked = {d for d in short if d not in stopped}
        for d in unmarked:  # a stop decided on a trial's own result is on its last row
            assert json.loads((exp / d / "result.json").read_text().splitlines()[-1])["done"]


def _proposals(tmp_path: Path, strategy: str, tag: str) -> list:
    spec = _spec().replace(name=tag, strategies=(strategy,), cpus_per_trial=2.0)  # one at a time
    path = Path(runner.start(spec, runner.RunOptions(
        storage=str(tmp_path / tag), trainable=SYNTHETIC, verbose=0, echo=lambda s: None)))
    trials = _trials(path / f"{strategy}-seed0")
    return sorted(json.dumps([r.get("rho/sigma_0") for r in rows]) for _, rows in trials)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["pb2", "tpe"])
def test_a_model_based_search_proposes_the_same_configs_for_the_same_seed(
        ray_session, tmp_path, strategy):
    first = _proposals(tmp_path, strategy, "a")
    assert first == _proposals(tmp_path, strategy, "b")
    assert len(set(first)) > 1  # and it did propose different configs within a run


def test_grid_selection_rules():
    scores = {(0.1, 0): 0.8, (0.1, 1): 0.9, (1.0, 0): 0.85, (1.0, 1): 0.85, (0.01, 0): math.nan,
              (0.01, 1): 0.99}
    assert select(scores, (0.01, 0.1, 1.0), "max") == 0.1  # ties -> smaller; NaN fold -> worst
    assert select({(1.0, 0): 2.0, (3.0, 0): 1.0}, (1.0, 3.0), "min") == 3.0
    assert select({(1.0, 0): 1.0, (3.0, 0): 1.0}, (3.0, 1.0), "max") == 1.0


def test_final_models_follow_the_contract(run_dir):
    from harness.run.results_io import final_row, strategy_rows
    from harness.run.storage import Storage

    path, _ = run_dir
    trials = strategy_rows(Storage(str(path / "asha-seed0")))
    best = final_row(trials, "val_acc", "max", EPOCHS)
    full = [rows[-1] for rows in trials.values() if len(rows) == EPOCHS]
    assert best["val_acc"] == max(r["val_acc"] for r in full)
    refit = final_row(strategy_rows(Storage(str(path / "grid_cv-seed0"))), "val_acc", "max", EPOCHS)
    assert refit["role"] == "refit"


#: what differs between two runs of the same trials: clocks, processes, hosts, Tune's ids
VOLATILE = {"train_seconds", "device_seconds", "observe_seconds", "time_this_iter_s",
            "time_total_s", "timestamp", "time_since_restore", "iterations_since_restore", "pid",
            "hostname", "node_ip", "node_id", "date", "trial_id", "checkpoint_dir_name", "done",
            "should_checkpoint", "config", "sleep_s"}


def _stable_trials(exp: Path) -> list[tuple[str, list[dict]]]:
    """Each trial of `exp` as (its config, its rows), timings and ids left out, sorted by
    config (Tune names trial directories by a random id); NaN made comparable."""

    def stable(d: dict) -> dict:
        return {k: "nan" if isinstance(v, float) and v != v else v
                for k, v in d.items() if k not in VOLATILE}

    return sorted((json.dumps(stable(params), sort_keys=True), [stable(r) for r in rows])
                  for params, rows in _trials(exp))


def test_side_by_side_runs_concurrently_and_gives_the_sequential_rows(run_dir, tmp_path):
    """Issue 21: the default schedule (units side by side, largest first) runs the same
    trials as `--sequential` (the module's run): identical metrics and cost columns per
    trial, seeded searches included; only clocks and ids differ."""
    spec = _spec().replace(strategies=("cross_reg", "fixed", "random"))
    lines: list[str] = []
    path = Path(runner.start(spec, runner.RunOptions(
        storage=str(tmp_path), trainable=SYNTHETIC, verbose=0, concurrent=True,
        extra_config={"sleep_s": 1.5}, echo=lines.append, progress_s=1.0)))
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["status"] == "finished"
    assert meta["completed"] == {"cross_reg-seed0": "finished", "fixed-seed0": "finished",
                                 "random-seed0": "finished"}
    # launched largest first: the 3-trial search before the single runs
    started = [line.split("] ")[1].split()[0] for line in lines if " started" in line]
    assert started[0] == "random-seed0", lines
    # between starts and ends, status lines of the running units' epochs (harness.run.heartbeat)
    assert any(re.match(r"\.\.\. \d running: .*random-seed0 \d+/18.* trial-epochs"
                        r"(; \d waiting: [^·]*)? · elapsed", line)
               for line in lines), lines
    sequential, _ = run_dir
    for name in meta["completed"]:
        ours, theirs = _stable_trials(path / name), _stable_trials(sequential / name)
        assert len(ours) == len(theirs) == (3 if name.startswith("random") else 1)
        assert ours == theirs, name
    spans = {}
    for name in meta["completed"]:
        rows = [r for _, t in _trials(path / name) for r in t]
        spans[name] = (min(r["timestamp"] - r["time_this_iter_s"] for r in rows),
                       max(r["timestamp"] for r in rows))
    # the strategies ran at the same time, not one after the other (each trial sleeps 9 s:
    # under load, trial processes start seconds apart, and 2 s of training missed each other)
    names = sorted(spans)
    overlaps = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
                if spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]
    assert overlaps, spans


@pytest.mark.slow
def test_real_trainable_costs_follow_from_the_spec_and_the_epochs_run(ray_session, tmp_path):
    """Every strategy with trainables.tune.train_fn, on a config where r does not divide the
    steps per epoch, the folds are uneven and ASHA stops trials: each strategy's forward
    passes equal a count derived from the spec and the epochs each trial recorded."""
    from harness import strategies
    from harness.run.results_io import rerun_rows
    from harness.run.storage import Storage

    pool, k, epochs = 301, 3, 4
    spec = registry.get("quick").replace(
        name="count", epochs=epochs, n_train=pool, width=16, batch_size=32, reg_batch_size=24,
        r=4, K=3, seeds=1, strategies=tuple(strategies.names()), pbt_population=2,
        pbt_interval=2, asha_samples=4, asha_grace_period=1, asha_reduction_factor=2,
        random_samples=2, grid_values=(0.01, 0.3), cv_folds=k, ensemble_members=2)
    run = Path(runner.start(spec, runner.RunOptions(storage=str(tmp_path), verbose=0,
                                                    concurrent=True, echo=lambda s: None)))
    assert json.loads((run / "metadata.json").read_text())["status"] == "finished"
    n_reg = math.floor(0.1 * pool + 0.5)  # the regularization split rounds half up
    fold_sizes = sorted(pool // k + (i < pool % k) for i in range(k))  # uneven: 101, 100, 100
    K, r, B = spec.trial.K, spec.trial.r, spec.trial.batch_size
    stopped = 0
    for strategy in spec.strategies:
        trials = _trials(run / f"{strategy}-seed0")
        expected, folds_seen = 0, []
        for params, rows in trials:
            if params["role"] == "fold":
                n_val = rows[0]["n_reg"]
                folds_seen.append(n_val)
                n_tr = pool - n_val
                # never a final model: observed once, at its end (every other trial may be
                # one: observed every epoch here, as epochs=4 asks for about ten observations)
                assert [r["observed"] for r in rows] == [False] * (epochs - 1) + [True]
            else:  # every final model, grid CV's refit too, on the training split (equal_rows)
                n_tr, n_val = pool - n_reg, n_reg
                assert all(r["observed"] for r in rows), strategy
            assert {(row["n_train"], row["n_reg"]) for row in rows} == {(n_tr, n_val)}, strategy
            e = len(rows)
            stopped += e < epochs
            members = params.get("members", 1)
            rho = params["rho"] if isinstance(params["rho"], dict) else {"*": params["rho"]}
            learned = params["mode"] in ("cross_reg", "t1t2")  # both take rho steps every r
            # a noisy model is evaluated with eval_samples draws, whatever K (the rho step's)
            k_eval = spec.trial.eval_samples if learned or any(v > 0 for v in rho.values()) else 1
            steps = math.ceil(n_tr / B)
            rho_steps = (e * steps) // r if learned else 0  # r counts steps over the run
            k_rho = 1 if params["mode"] == "t1t2" else K  # t1t2's validation loss is clean
            expected += members * (e * n_tr + e * n_val * k_eval) + rho_steps * min(24, n_val) * k_rho
        if strategy == "grid_cv":
            assert sorted(folds_seen) == sorted(fold_sizes * len(spec.grid_values))
        reruns = rerun_rows(Storage(str(run / f"{strategy}-seed0")))
        assert not reruns, strategy  # nothing failed, nothing re-ran
        assert sum(total_forward(rows) for _, rows in trials) == expected, strategy
    assert stopped >= 1  # ASHA (or HyperBand) stopped at least one trial


@pytest.mark.slow
def test_an_asha_search_of_16_trials_starts_a_process_per_cpu_not_per_trial(ray_session, tmp_path):
    """Tune reuses a trial's actor for the next trial (`reuse_actors=True`): 16 ASHA trials on
    2 CPUs run in about 2 processes, so a trial does not pay a process start and torch's
    imports (~3 s here) each. Counted from the `pid` Tune writes into every result row."""
    spec = registry.get("quick").replace(
        name="pids", epochs=2, n_train=200, seeds=1, strategies=("asha",), asha_samples=16,
        asha_grace_period=1)
    run = Path(runner.start(spec, runner.RunOptions(storage=str(tmp_path), verbose=0,
                                                    echo=lambda s: None)))
    trials = _trials(run / "asha-seed0")
    assert len(trials) == 16
    pids = {row["pid"] for _, rows in trials for row in rows}
    assert len(pids) <= 4, pids


def test_storage_given_as_a_uri(ray_session, tmp_path):
    """A URI storage path (file:// here; s3:// and gs:// go through the same pyarrow code)."""
    spec = _spec().replace(name="uri", strategies=("cross_reg",))
    root = runner.start(spec, runner.RunOptions(storage=f"file://{tmp_path}", trainable=SYNTHETIC,
                                                verbose=0, echo=lambda s: None))
    assert root.startswith("file://")
    (run,) = tmp_path.iterdir()
    assert json.loads((run / "metadata.json").read_text())["status"] == "finished"
    ((_, rows),) = _trials(run / "cross_reg-seed0")
    assert len(rows) == EPOCHS


def test_pbt_draws_come_from_the_runs_seed_and_leave_global_state_alone():
    import random

    import numpy as np

    from harness.strategies.pbt import SeededPBT

    def draws(seed: int) -> list[float]:
        sched = SeededPBT(seed=seed, time_attr="training_iteration", perturbation_interval=1,
                          hyperparam_mutations={"rho": [0.1, 1.0]})
        out = []
        for _ in range(2):  # the stream continues across calls, as across exploit steps
            with sched.own_random_state():
                out += [random.random(), float(np.random.rand())]
        return out

    random.seed(7)
    np.random.seed(7)
    before = (random.getstate(), np.random.get_state()[1].copy())
    assert draws(3) == draws(3) != draws(4)
    assert len(set(draws(3))) == 4
    assert random.getstate() == before[0] and np.array_equal(np.random.get_state()[1], before[1])


def test_a_run_ended_short_without_a_signal_names_what_did_not_finish(ray_session, tmp_path):
    """No Ctrl-C, yet a (strategy, seed) ended short (here its trial quits after 2 of 6
    epochs without an error): the run is recorded interrupted and the message names what did
    not finish, instead of claiming an interruption nobody made."""
    from harness.errors import EndedShort

    spec = _spec().replace(name="short", strategies=("cross_reg",))
    with pytest.raises(EndedShort, match=r"^cross_reg-seed0 did not finish; continue with: "
                                         r"crossreg resume ") as ended:
        runner.start(spec, runner.RunOptions(storage=str(tmp_path), trainable=SYNTHETIC, verbose=0,
                                             extra_config={"quit_after_epochs": 2},
                                             echo=lambda s: None))
    assert ended.value.exit_code == 1  # not 130: nobody pressed Ctrl-C
    (run,) = tmp_path.iterdir()
    assert json.loads((run / "metadata.json").read_text())["status"] == "interrupted"
