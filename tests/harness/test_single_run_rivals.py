"""The single-run rivals t1t2, concrete_dropout and trivial_augment end to end, as a user runs
them (`crossreg run quick --smoke --strategies ...` in a subprocess): each finishes with one
trial, has a row in the printed summary table, and costs what its spec implies, recomputed
here: forward passes from the split sizes, batch sizes, K, r and the epochs run; FLOPs and
device-seconds as the sum over the trial's rows. Their preflight refuses what they cannot
run in one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from harness import strategies
from harness.errors import HarnessError
from harness.experiments import registry
from harness.run import preflight

RIVALS = ("t1t2", "concrete_dropout", "trivial_augment")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[Path, list[str]]:
    storage = tmp_path_factory.mktemp("rivals")
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "quick", "--smoke",
                           "--strategies", *RIVALS, "--storage", str(storage)],
                          check=False, capture_output=True, text=True, timeout=600)
    lines = (proc.stdout + proc.stderr).splitlines()
    assert proc.returncode == 0, "\n".join(lines[-40:])
    return next(storage.glob("quick-smoke-*")), lines


def _trials(run: Path, strategy: str) -> list[tuple[dict, list[dict]]]:
    out = []
    for result in sorted((run / f"{strategy}-seed0").glob("*/result.json")):
        params = json.loads((result.parent / "params.json").read_text())
        out.append((params, [json.loads(line) for line in result.read_text().splitlines() if line]))
    return out


@pytest.mark.slow
def test_each_rival_finishes_with_one_trial_and_a_row_in_the_table(smoke):
    run, lines = smoke
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "finished"
    assert meta["completed"] == {f"{s}-seed0": "finished" for s in RIVALS}
    head = next(i for i, line in enumerate(lines) if line.startswith("experiment quick-smoke ·"))
    assert {line.split()[0] for line in lines[head + 2:head + 2 + len(RIVALS)]} == set(RIVALS)
    for s in RIVALS:
        assert strategies.get(s).expected_trials(registry.get("quick")) == 1
        ((params, rows),) = _trials(run, s)
        assert params["strategy"] == s and params["role"] == "single"
        assert len(rows) == registry.get("quick").smoke().epochs
    t1t2, cd, ta = (_trials(run, s)[0] for s in RIVALS)
    assert t1t2[0]["mode"] == "t1t2" and t1t2[1][-1]["rho/sigma_0"] != t1t2[0]["rho"]["sigma_0"]
    assert cd[0]["family"] == "concrete_dropout" and cd[0]["mode"] == "fixed"
    assert all(0 < cd[1][-1][f"rho/p_{i}"] < 1 for i in range(3))
    assert ta[0]["trivial_augment"] and ta[0]["rho"] == {"sigma_0": 0.0, "sigma_1": 0.0}


@pytest.mark.slow
def test_each_rivals_cost_is_the_sum_over_its_trial_recomputed_from_the_spec(smoke):
    import analysis

    run, _ = smoke
    spec = registry.get("quick").smoke()
    trial = spec.trial
    pool = trial.n_train
    n_reg = math.floor(trial.reg_fraction * pool + 0.5)
    n_tr = pool - n_reg
    steps = math.ceil(n_tr / trial.batch_size)
    summary = analysis.summarize(analysis.load_results(str(run))).set_index("strategy")
    for s in RIVALS:
        ((params, rows),) = _trials(run, s)
        epochs = len(rows)
        rho_steps = epochs * steps // trial.r if params["mode"] == "t1t2" else 0
        k_eval = 1 if s == "trivial_augment" else trial.K  # noise at 0 is deterministic
        # t1t2's rho step: one clean forward of the regularization batch
        fwd = epochs * (n_tr + n_reg * k_eval) + rho_steps * min(trial.reg_batch_size, n_reg)
        assert summary.loc[s, "fwd_total"] == fwd, s
        assert sum(r["fwd_train"] + r["fwd_reg"] + r["fwd_eval"] for r in rows) == fwd, s
        flops = sum(r["flops_train"] + r["flops_reg"] + r["flops_eval"] for r in rows)
        assert summary.loc[s, "flops_total"] == pytest.approx(flops, rel=1e-12) and flops > 0, s
        seconds = sum(r["device_seconds"] for r in rows)
        assert summary.loc[s, "device_seconds_total"] == pytest.approx(seconds, rel=1e-9), s
        assert (sum(r["flops_reg"] for r in rows) > 0) == (s == "t1t2"), s


@pytest.mark.parametrize("strategy, experiment, changes, match", [
    ("trivial_augment", "mnist1d-noise", {}, r"dataset 'mnist1d' has per-sample shape \(1, 40\)"),
    ("t1t2", "quick", {"family": "dropout"}, r"'dropout' has no rho that t1t2 can learn"),
    ("concrete_dropout", "quick", {"dropout": 0.3}, r"dropout=0.3: family 'concrete_dropout' sets"),
])
def test_preflight_refuses_what_a_rival_cannot_run_in_one_line(strategy, experiment, changes, match):
    spec = registry.get(experiment).replace(**changes)
    with pytest.raises(HarnessError, match=rf"^experiment {spec.name}, strategy {strategy}: .*{match}"):
        preflight.check(spec.name, [(strategies.get(strategy), spec)], on_cluster=False,
                        own_trainable=True)


@pytest.mark.parametrize("experiment", ["quick", "mnist1d-noise", "digits-augment", "ridge"])
def test_preflight_passes_where_a_rival_can_run(experiment):
    from trainables.datasets import dataset_spec

    spec = registry.get(experiment)
    images = len(dataset_spec(spec.trial.dataset).input_shape) == 3
    runnable = [s for s in RIVALS if images or s != "trivial_augment"]
    preflight.check(spec.name, [(strategies.get(s), spec) for s in runnable], on_cluster=False,
                    own_trainable=True)
