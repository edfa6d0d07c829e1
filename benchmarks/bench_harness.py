"""The harness's own overhead, measured.

1. One trial through Ray Tune (Tuner, one sample, checkpoint every epoch) vs the same config
   through `trainables.run_trial` in this process: the ratio is what Ray costs per trial.
   Ray's start-up (`ray.init`) is timed separately; the harness pays it once per run.
2. PBT's wall time vs the same number of trials and epochs without PBT (FIFO scheduler,
   the same seeded sampled configs): the cost of synchronising, pausing and cloning.
3. The fixed cost per trial of a search (issue 21: <= 1 s amortised): 16 trials of one
   Tuner on every CPU, with Tune's actor reuse (a trial runs in a finished trial's process,
   as every harness search does) and without (a process per trial). Per trial:
   wall x CPUs / 16 - the direct trial's seconds, the CPU-seconds a trial costs beyond
   its own training. Every Tuner fits as the harness fits it, without the loggers Tune adds
   by itself; one more row keeps them (the harness before it turned them off).

    python benchmarks/bench_harness.py [--experiment quick] [--repeats 1]

Prints a Markdown table; copy it into BENCHMARKS.md with the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import datetime, timezone


def time_direct(config: dict) -> float:
    """run_trial in this process, on one thread: a Ray trial with 1 CPU gets
    OMP_NUM_THREADS=1, and torch's default (all cores) is much slower on a loaded machine."""
    import torch

    from trainables import run_trial

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = run_trial(config)
    assert len(rows) == config["epochs"]
    return time.perf_counter() - t0


def time_tune(param_space: dict, storage: str, name: str, n: int = 1,
              reuse: bool = False, tune_loggers: bool = False) -> float:
    """`n` trials of one Tuner of `param_space` (FIFO, 1 CPU each, every CPU in use);
    `reuse`: Tune's actor reuse (a trial runs in a finished trial's process);
    `tune_loggers`: with the CSV and TensorBoard loggers Tune adds by itself, which the
    harness turns off (`harness.run.loggers.only_asked`)."""
    import contextlib

    from ray import tune

    from harness.run.loggers import only_asked
    from trainables.tune import train_fn

    tuner = tune.Tuner(
        tune.with_resources(train_fn, {"cpu": 1}),
        param_space=param_space,
        tune_config=tune.TuneConfig(num_samples=n, reuse_actors=reuse),
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0),
    )
    t0 = time.perf_counter()
    with contextlib.nullcontext() if tune_loggers else only_asked():
        grid = tuner.fit()
    elapsed = time.perf_counter() - t0
    assert grid.num_errors == 0 and len(grid) == n
    return elapsed


def time_strategy(spec, strategy: str, storage: str, scheduler_off: bool) -> float:

    from harness import strategies
    from harness.run.loggers import only_asked
    from harness.run.runner import load_trainable, with_resources

    trainable = with_resources(load_trainable("trainables.tune:train_fn"), spec)
    ctx = strategies.StrategyContext(strategy=strategies.get(strategy), spec=spec, seed=0,
                                     storage_path=storage, trainable=trainable, verbose=0)
    tuner = strategies.get(strategy).build(ctx)
    if scheduler_off:  # the same Tuner, FIFO instead of PBT
        tuner._local_tuner._tune_config.scheduler = None
    t0 = time.perf_counter()
    with only_asked():  # as the harness fits it
        grid = tuner.fit()
    elapsed = time.perf_counter() - t0
    assert grid.num_errors == 0 and len(grid) == strategies.get(strategy).expected_trials(spec)
    return elapsed


def main() -> None:
    import ray
    from ray import tune

    from harness.experiments import registry

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", default="quick")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    spec = registry.get(args.experiment)
    config = spec.trial_config("cross_reg", 0, learned=True)
    storage = tempfile.mkdtemp(prefix="bench-harness-")

    direct = min(time_direct(config) for _ in range(args.repeats))
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t0
    tuned = min(time_tune(config, storage, f"one-{i}") for i in range(args.repeats))
    pbt_s = time_strategy(spec, "pbt", storage + "/pbt", scheduler_off=False)
    fifo_s = time_strategy(spec, "pbt", storage + "/fifo", scheduler_off=True)
    fixed = spec.trial_config("fixed", 0, learned=False)
    fixed_direct = min(time_direct(fixed) for _ in range(args.repeats))
    cpus, n = os.cpu_count() or 1, 16
    sampled = {**fixed, "rho": tune.loguniform(0.01, 1.0)}
    many = {(reuse, logs): time_tune(sampled, storage, f"many-{reuse}-{logs}", n, reuse, logs)
            for reuse, logs in ((True, False), (False, False), (True, True))}
    ray.shutdown()

    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"experiment: {spec.name} (epochs={spec.epochs}, n_train={spec.trial.n_train}, "
          f"width={spec.trial.width}, population={spec.pbt_population}, "
          f"interval={spec.perturbation_interval})\n")
    print("| measurement | seconds | ratio |")
    print("|---|---|---|")
    print(f"| one cross_reg trial, run_trial directly (1 thread; best of {args.repeats}) "
          f"| {direct:.2f} | 1.00 |")
    print(f"| the same trial through Ray Tune (Tuner.fit, 1 CPU; best of {args.repeats}) "
          f"| {tuned:.2f} | {tuned / direct:.2f} |")
    print(f"| ray.init (once per run) | {init_s:.2f} | |")
    print(f"| {spec.pbt_population} trials without PBT (FIFO) | {fifo_s:.2f} | 1.00 |")
    print(f"| the same {spec.pbt_population} trials under PBT | {pbt_s:.2f} | {pbt_s / fifo_s:.2f} |")
    print(f"| one fixed trial, run_trial directly (1 thread; best of {args.repeats}) "
          f"| {fixed_direct:.2f} | |")
    for (reuse, logs), wall in many.items():
        per_trial = wall * cpus / n - fixed_direct
        own = ", with Tune's own CSV and TensorBoard loggers" if logs else ""
        print(f"| {n} fixed trials, one Tuner, {cpus} CPUs, actor reuse {'on' if reuse else 'off'}"
              f"{own}: "
              f"wall; per trial beyond its training (CPU-s) | {wall:.2f}; {per_trial:.2f} | |")


if __name__ == "__main__":
    main()
