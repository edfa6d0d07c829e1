"""Test doubles for the harness machinery: a cheap synthetic trainable and a fault injector.

The schedulers, resume and accounting logic do not care what a trial trains, only that it
reports the contract's columns once per epoch and checkpoints like `trainables.tune.train_fn`
does. `synthetic_train_fn` does exactly that in microseconds and without torch, so tests and
benchmarks can drive PBT, ASHA and grid CV through Ray Tune in seconds. Its numbers follow a
closed form: per-epoch forward passes are a function of the split sizes only (so tests can
recompute a strategy's cost independently), and its "validation accuracy" peaks at rho=0.1
so the searches have something to find. Its state evolves through a seeded generator saved in
the checkpoint, so a trial resumed from a checkpoint must reproduce a fault-free run exactly.

It lives in the package (not under tests/) because Ray workers and `ray job submit` drivers
must be able to import it by name.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from analysis.contract import (
    DIVERGED,
    EPOCH,
    EXPERIMENT,
    FWD_EVAL,
    FWD_REG,
    FWD_TEST,
    FWD_TRAIN,
    N_REG,
    N_TEST,
    N_TRAIN,
    RHO_PREFIX,
    ROLE,
    SEED,
    STRATEGY,
    TEST_ACC,
    TEST_BRIER,
    TEST_ECE,
    TEST_LOSS,
    TEST_NLL,
    TRAIN_ACC,
    TRAIN_LOSS,
    TRAIN_SECONDS,
    VAL_ACC,
    VAL_LOSS,
)
from trainables.config import checkpoint_interval

SYNTHETIC_POOL = 1000  # training-pool size when the config leaves n_train unset
SYNTHETIC_TEST = 200
EXTRA_KEYS = ("sleep_s", "fail_once_at", "fail_marker")


def split_sizes(config: Mapping[str, Any]) -> tuple[int, int]:
    """(n_train, n_val) of a synthetic trial: hold-out, CV fold, or refit on the whole pool."""
    pool = int(config.get("n_train") or SYNTHETIC_POOL)
    n_folds = int(config.get("n_folds", 1) or 1)
    fold = config.get("fold")
    if fold == -1:
        return pool, 0
    if n_folds > 1:
        n_val = pool // n_folds
    else:
        n_val = round(float(config["reg_fraction"]) * pool)
    return pool - n_val, n_val


def epoch_cost(config: Mapping[str, Any]) -> dict[str, int]:
    """Sample-forward passes of one synthetic epoch, from the config alone."""
    n_tr, n_val = split_sizes(config)
    steps = math.ceil(n_tr / int(config["batch_size"]))
    K = int(config["K"])
    fwd_reg = 0
    if config["mode"] == "cross_reg":
        fwd_reg = math.ceil(steps / int(config["r"])) * int(config["reg_batch_size"]) * K
    # the real trainable averages `eval_samples` draws at every evaluation, whatever K, and
    # scores the test split once more with the noise off
    samples = int(config.get("eval_samples", 4))
    return {FWD_TRAIN: n_tr, FWD_REG: fwd_reg, FWD_EVAL: n_val * samples,
            FWD_TEST: SYNTHETIC_TEST * (samples + 1)}


def _rho_values(rho: Any) -> dict[str, float]:
    if isinstance(rho, Mapping):
        return {str(k): float(v) for k, v in rho.items()}
    return {"rho": float(rho)}


def _quality(rho: dict[str, float]) -> float:
    """Penalty for being away from rho = 0.1 in log space (0 at the optimum)."""
    return float(np.mean([(math.log10(v + 1e-4) + 1.0) ** 2 for v in rho.values()]))


def synthetic_train_fn(config: dict[str, Any]) -> None:
    """A Ray Tune function trainable with the report columns of `trainables.tune.train_fn`."""
    import ray
    from ray import tune

    from trainables.tune import Lineage

    epochs = int(config.get("quit_after_epochs") or config["epochs"])  # a trial ending short
    checkpoint_every = checkpoint_interval(int(config.get("checkpoint_every", 0)), epochs)
    seed = int(config["seed"])
    rho = _rho_values(config["rho"])
    learned = config["mode"] == "cross_reg"
    regression = str(config.get("dataset", "")).startswith(("synthetic-regression", "diabetes"))
    start, state = 0, np.random.default_rng([seed, 7]).bit_generator.state
    w = 0.0
    lineage = Lineage()
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            start, state, w, saved_rho = load_state_dict(d)
            lineage.load(d)
        if learned:
            rho = saved_rho
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    n_tr, n_val = split_sizes(config)
    cost = epoch_cost(config)
    ctx = ray.get_runtime_context()
    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        if config.get("sleep_s"):
            time.sleep(float(config["sleep_s"]))
        w += float(rng.normal()) * 0.01
        if learned:  # cross-reg walks its rho towards the optimum
            rho = {k: math.exp(0.7 * math.log(v) + 0.3 * math.log(0.1)) for k, v in rho.items()}
        acc = 0.95 - 0.4 * math.exp(-epoch / 3.0) - 0.05 * _quality(rho) + w
        loss = 1.0 - acc
        no_val = n_val == 0
        row: dict[str, Any] = {
            EPOCH: epoch,
            TRAIN_LOSS: loss * 0.9, TRAIN_ACC: math.nan if regression else acc + 0.02,
            VAL_LOSS: math.nan if no_val else loss,
            VAL_ACC: math.nan if (no_val or regression) else acc,
            TEST_LOSS: loss + 0.01, TEST_ACC: math.nan if regression else acc - 0.01,
            TEST_ECE: math.nan if regression else 0.05, TEST_NLL: loss + 0.01,
            TEST_BRIER: math.nan if regression else 0.1,
            **{f"{RHO_PREFIX}{k}": v for k, v in rho.items()},
            **cost,
            TRAIN_SECONDS: 0.0,
            N_TRAIN: n_tr, N_REG: n_val, N_TEST: SYNTHETIC_TEST,
            DIVERGED: False,
            EXPERIMENT: config.get("experiment", ""), STRATEGY: config.get("strategy", ""),
            SEED: seed, ROLE: config.get("role", "single"),
            "node_ip": ray.util.get_node_ip_address(), "node_id": ctx.get_node_id(),
            "pid": os.getpid(),
        }
        row[TRAIN_SECONDS] = time.perf_counter() - t0
        lineage.add(row)
        if epoch % checkpoint_every == 0 or epoch == epochs:
            with tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "state.json"), "w") as f:
                    json.dump(state_dict(epoch, rng, w, rho), f)
                lineage.save(d)
                tune.report(row, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report(row)
        _maybe_fail(config, epoch)


def state_dict(epoch: int, rng: np.random.Generator, w: float, rho: dict[str, float]) -> dict[str, Any]:
    """A synthetic trial's checkpoint (``state.json``): its own keys, not a report row's."""
    return {"epoch": epoch, "rng": rng.bit_generator.state, "w": w, "rho": rho}


def load_state_dict(directory: str) -> tuple[int, dict[str, Any], float, dict[str, float]]:
    """(epoch, generator state, w, rho) from the checkpoint directory `state_dict` wrote."""
    with open(os.path.join(directory, "state.json")) as f:
        saved = json.load(f)
    return saved["epoch"], saved["rng"], saved["w"], saved["rho"]


def _maybe_fail(config: Mapping[str, Any], epoch: int) -> None:
    """Raise once, after reporting `fail_once_at`, if asked to (a marker file makes it once)."""
    at, marker = config.get("fail_once_at"), config.get("fail_marker")
    if at is None or marker is None or epoch != int(at):
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    raise RuntimeError(f"injected failure after epoch {epoch}")


def fail_once(trainable: Callable[[dict], None], epoch: int,
              marker_dir: str) -> Callable[[dict], None]:
    """`trainable`, made to raise once, right after it reports `epoch`.

    Works with any function trainable that calls `ray.tune.report` (the real `train_fn`
    included): the wrapper swaps `ray.tune.report` for one that raises after the report of
    `epoch` the first time only; a marker file under `marker_dir` (one per strategy, seed and
    rho) remembers the failure across the retry's fresh start.
    """
    epoch = int(epoch)

    def failing_once(config: dict[str, Any]) -> None:
        from ray import tune

        # a stable digest: Python's hash() of a str differs between processes, and a retry
        # runs in a new one
        rho = hashlib.sha1(json.dumps(config.get("rho"), sort_keys=True).encode()).hexdigest()
        marker = os.path.join(marker_dir, f"{config.get('strategy')}-{config.get('seed')}-{rho}")
        original = tune.report

        def report(metrics: dict, *, checkpoint: Any = None) -> None:
            original(metrics, checkpoint=checkpoint)
            _maybe_fail({"fail_once_at": epoch, "fail_marker": marker}, int(metrics[EPOCH]))

        tune.report = report
        try:
            trainable(config)
        finally:
            tune.report = original

    failing_once.__name__ = getattr(trainable, "__name__", "trainable")
    return failing_once


__all__ = ["EXTRA_KEYS", "epoch_cost", "fail_once", "split_sizes", "synthetic_train_fn"]
