"""Synchronous PBT with and without `KeepMembers` (issue 13), side by side in one run.

    python benchmarks/bench_pbt_barriers.py [--experiment mnist1d-noise] [--population 2 4]
                                            [--epochs 30] [--interval 3]

Ray Tune 2.60 stops every member's process at each synchronous barrier unless the harness
keeps a place for it in Tune's actor cache (harness/strategies/_keep_members.py). For each
population size this runs the `pbt` strategy twice on the same seed, first as Ray would
(the scheduler and sampler without the harness's keeping) and then as the harness does, and
prints the wall seconds, the worker processes Ray started meanwhile, the trials' own
training seconds, and whether every row's metrics came out identical.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any


def _rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(run.glob("pbt-seed0/*/result.json"))
            for line in f.read_text().splitlines() if line]


def _processes_started() -> int:
    """Worker processes this Ray session has started so far (each writes its own log)."""
    import ray

    logs = Path(ray._private.worker.global_worker.node.get_logs_dir_path())
    return len(list(logs.glob("worker-*.out")))


def _run(spec: Any, keep: bool) -> tuple[float, int, list[dict[str, Any]]]:
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from harness.run import runner
    from harness.strategies import _keep_members, common, pbt

    class RayDefaultPBT(common.SeededScheduler, PopulationBasedTraining):
        """`SeededPBT` without `KeepMembers`: the same draws, Tune's own actor handling."""

    saved = pbt.SeededPBT, pbt.PopulationSampler
    if not keep:
        pbt.SeededPBT, pbt.PopulationSampler = RayDefaultPBT, BasicVariantGenerator  # type: ignore[misc]
    try:
        assert keep == (pbt.PopulationSampler is _keep_members.PopulationSampler)
        started, processes = time.perf_counter(), _processes_started()
        root = runner.start(spec, runner.RunOptions(storage=tempfile.mkdtemp(), verbose=0,
                                                    echo=lambda s: None))
        return (time.perf_counter() - started, _processes_started() - processes,
                _rows(Path(root)))
    finally:
        pbt.SeededPBT, pbt.PopulationSampler = saved  # type: ignore[misc]


def _metrics(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Every row's results without its trial id (random per run) or timings."""
    return sorted((r["training_iteration"], r["val_acc"], r["test_acc"], r["val_loss"],
                   json.dumps(r["config"]["rho"], sort_keys=True)) for r in rows)


def main() -> None:
    import ray

    from harness.experiments import registry
    from harness.run import console

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", default="mnist1d-noise")
    p.add_argument("--population", type=int, nargs="+", default=[2, 4])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--interval", type=int, default=3)
    args = p.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, **console.quiet_ray(0))
    print(f"# {args.experiment}, pbt, {args.epochs} epochs, a barrier every {args.interval}; "
          f"seed 0; 2 CPUs")
    print(f"# command: python benchmarks/bench_pbt_barriers.py --population "
          f"{' '.join(map(str, args.population))} --epochs {args.epochs} --interval "
          f"{args.interval}; machine: {platform.machine()} {platform.processor() or ''}, "
          f"date {time.strftime('%Y-%m-%d')}")
    print("| P | members' processes | wall s | processes started | training s | rows identical |")
    print("|---|---|---|---|---|---|")
    for population in args.population:
        spec = registry.get(args.experiment).replace(
            name="barriers", epochs=args.epochs, pbt_population=population,
            pbt_interval=args.interval, seeds=1, strategies=("pbt",))
        results = {keep: _run(spec, keep) for keep in (False, True)}
        same = _metrics(results[False][2]) == _metrics(results[True][2])
        for keep, label in ((False, "stopped at each barrier (Ray's default)"),
                            (True, "kept (KeepMembers)")):
            wall, processes, rows = results[keep]
            print(f"| {population} | {label} | {wall:.0f} | {processes} | "
                  f"{sum(r['train_seconds'] for r in rows):.0f} | {'yes' if same else 'NO'} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
