"""Throughput efficiency (issue 21 item 4): a run's FLOPs against what the machine's cores
could have computed in its wall time.

    python benchmarks/bench_throughput.py [EXPERIMENT] [--strategies S ...] [--seeds N]
                                          [--smoke] [--sequential] [--cores N] [--storage DIR]
                                          [--observe-every N]
    python benchmarks/bench_throughput.py --contention   # the reference alone, then on every core
    python benchmarks/bench_throughput.py --rates 0 0.3 1  # the reference at other fixed rho

Default: mnist1d-noise, 2 seeds, cross_reg + pbt + asha + grid_cv, side by side (the CLI's
default schedule); another experiment runs its own strategies (`quick --seeds 1`: the main
job of BENCHMARKS.md). In one invocation, on the same machine:

1. the reference: one plain `fixed` trial of the experiment (its exact config, seed 0) run
   alone in a subprocess on one core (OMP_NUM_THREADS=1, torch at one thread, no Ray), its
   cost FLOPs (flops_train + flops_reg + flops_eval, the contract's cost columns) divided by
   the seconds its epochs took, the first epoch left out (torch's first-optimiser compile
   and allocations are start-up, not rate). That is FLOPs per second per core: what a core
   does when it does nothing but train this model.
2. the run: `runner.start` as `crossreg run` does it, timed from the call to its return
   (Ray's start, preflight and every trial process included: what a user waits for).

efficiency = the run's cost FLOPs (every row of result.json and rerun.json) / (its wall
seconds x cores x the reference rate). 1.0 would be every core training at the reference
rate for the whole run; what is missing went to process starts, Ray and Tune, the driver,
idle cores, and per-epoch observation (test-split evaluation: in both the reference's
seconds and the run's, so it lowers the rate, not the efficiency). Prints a markdown row with
the command, machine, date and commit.

`--rates` puts the gap between the two in numbers without a run: the reference trial again at
other fixed rho. The reference is the experiment's `fixed_rho` (0 on mnist1d-noise: no noise),
while a run's trials train with their noise on, and drawing and adding noise is time without
matmul FLOPs; a noisy model's observation also takes `eval_samples` noisy passes and a
noise-off one where a noise-free model takes one. Its "whole epochs" column is the rate a trial
of that rho reaches alone on one core, observation included (`observe_every`'s default), and
"x reference" the most that efficiency can be for a run of such trials.

The reference and the run share the machine with
whatever else runs on it: a loaded machine lowers both, but not alike (the reference holds
one core, the run all of them), so quote figures with the load they were taken under.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from analysis.contract import FLOPS_COST_COLUMNS  # noqa: E402

DEFAULT_EXPERIMENT = "mnist1d-noise"
DEFAULT_STRATEGIES = ("cross_reg", "pbt", "asha", "grid_cv")
DEFAULT_SEEDS = 2
ONE_CORE = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

# The reference trial, in a process of its own so that its thread settings hold from the
# first import of torch; argv: the trial config as JSON, the seconds of epochs to time at least
# (the trial is trained again until they are reached: `quick`'s takes half a second, too short
# to time on a shared machine). Prints {"flops", "seconds", "train_seconds", "epochs"}: seconds
# are whole epochs (training and observation), train_seconds the training alone.
REFERENCE = """
import json, sys, time
import torch
torch.set_num_threads(1)
from analysis.contract import FLOPS_COST_COLUMNS
from trainables.trial import Trial
steady = []
while sum(s for s, _, _ in steady) < float(sys.argv[2]):  # a small model's trial: again, same seed
    trial, timed = Trial(json.loads(sys.argv[1])), []
    while not trial.done:
        t0 = time.perf_counter()
        row = trial.run_epoch()
        timed.append((time.perf_counter() - t0, float(row["train_seconds"]),
                      sum(float(row.get(c) or 0.0) for c in FLOPS_COST_COLUMNS)))
    steady += timed[1:] or timed  # a trial's first epoch is start-up (compile, allocations)
print(json.dumps({"flops": sum(f for _, _, f in steady), "seconds": sum(s for s, _, _ in steady),
                  "train_seconds": sum(t for _, t, _ in steady), "epochs": len(steady)}))
"""


def reference_rate(config: dict[str, Any], min_seconds: float = 5.0) -> dict[str, float]:
    """FLOPs per second of `config` trained alone on one core (see the module docstring),
    over at least `min_seconds` of its epochs."""
    env = {**os.environ, **ONE_CORE, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-c", REFERENCE, json.dumps(config), str(min_seconds)], env=env,
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rate"] = result["flops"] / result["seconds"]
    result["train_rate"] = result["flops"] / result["train_seconds"]
    return result


def cost_flops(run: Path) -> float:
    """The run's cost FLOPs: the contract's cost columns over every row it wrote, re-run
    epochs (rerun.json) included: they were computed."""
    total = 0.0
    for name in ("result.json", "rerun.json"):
        for f in run.glob(f"*-seed*/*/{name}"):
            for line in f.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    total += sum(float(row.get(c) or 0.0) for c in FLOPS_COST_COLUMNS)
    return total


def machine() -> str:
    """The CPU model and core count, from /proc/cpuinfo where there is one."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def commit() -> str:
    """The short commit, `-dirty` if tracked files differ from it (the figure may not be
    reproducible from the commit alone)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=ROOT).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment", nargs="?", default=DEFAULT_EXPERIMENT)
    p.add_argument("--strategies", nargs="+", default=None,
                   help=f"default: {' '.join(DEFAULT_STRATEGIES)} on {DEFAULT_EXPERIMENT}, "
                        "another experiment's own strategies on it (`quick`: the main job)")
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    p.add_argument("--smoke", action="store_true",
                   help="the experiment's smoke shrink (seconds-long trials): checks the script")
    p.add_argument("--sequential", action="store_true",
                   help="units one after another, as `crossreg run --sequential` (the before)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                   help="cores the run had (default: this machine's)")
    p.add_argument("--storage", default=None, help="where the run goes (default: a temp dir)")
    p.add_argument("--observe-every", type=int, default=None, metavar="N",
                   help="observe the test split every N epochs (and at the last) instead of "
                        "the default about ten times a trial; the reference keeps the default")
    p.add_argument("--rates", nargs="+", type=float, metavar="RHO", default=None,
                   help="only the reference, once at each of these fixed rho values (every "
                        "layer's): how fast a core trains this model when its noise is on "
                        "(noise is time, not FLOPs); no run")
    p.add_argument("--contention", action="store_true",
                   help="only the reference: alone, then on every core at once (do the cores "
                        "slow each other?); no run")
    args = p.parse_args(argv)

    from harness.experiments import registry
    from harness.run import runner
    from harness.strategies import fixed

    spec = registry.get(args.experiment)
    strategies = args.strategies or (DEFAULT_STRATEGIES if args.experiment == DEFAULT_EXPERIMENT
                                     else spec.strategies)
    spec = spec.replace(strategies=tuple(strategies), seeds=args.seeds)
    if args.smoke:
        spec = spec.smoke().replace(seeds=args.seeds)
    config, min_seconds = fixed.preflight_configs(spec, 0)[0], 1.0 if args.smoke else 5.0
    if args.observe_every is not None:  # the run's trials only: the reference is the yardstick
        spec = spec.replace(observe_every=args.observe_every)
    ref = reference_rate(config, min_seconds)
    print(f"reference: fixed alone on one core, {ref['epochs']} epochs, "
          f"{ref['flops']:.3g} FLOPs in {ref['seconds']:.1f} s = {ref['rate']:.3g} FLOP/s "
          f"({ref['train_rate']:.3g} in its training seconds alone)", flush=True)
    if args.rates:
        print("| rho | epochs | FLOPs | whole epochs FLOP/s | training only FLOP/s | x reference |")
        print("|---|---|---|---|---|---|")
        for rho in args.rates:
            r = reference_rate({**config, "rho": spec.per_layer(rho)}, min_seconds)
            print(f"| {rho:g} | {r['epochs']} | {r['flops']:.3g} | {r['rate']:.3g} "
                  f"| {r['train_rate']:.3g} | {r['rate'] / ref['rate']:.2f} |", flush=True)
        return
    if args.contention:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(args.cores) as pool:  # each reference is a process of its own
            rates = [r["rate"] for r in pool.map(lambda _: reference_rate(config, min_seconds),
                                                 range(args.cores))]
        print(f"the same on {args.cores} cores at once: "
              f"{', '.join(f'{r:.3g}' for r in rates)} FLOP/s ({sum(rates):.3g} in all)")
        return

    storage = args.storage or tempfile.mkdtemp(prefix="bench-throughput-")
    options = runner.RunOptions(storage=storage, concurrent=not args.sequential,
                                echo=lambda line: print(line, flush=True))
    t0 = time.perf_counter()
    run = Path(runner.start(spec, options))
    wall = time.perf_counter() - t0
    flops = cost_flops(run)
    eff = flops / (wall * args.cores * ref["rate"])

    command = "python benchmarks/bench_throughput.py " + " ".join(argv if argv is not None
                                                                 else sys.argv[1:])
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    print(f"\nrun: {run}")
    print("| command | machine | date | commit | reference FLOP/s/core | run cost FLOPs "
          "| wall s | cores | throughput efficiency |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| `{command.strip()}` | {machine()} | {date} | {commit()} | {ref['rate']:.3g} "
          f"| {flops:.3g} | {wall:.0f} | {args.cores} | {eff:.2f} |")


if __name__ == "__main__":
    main()
