"""Harness efficiency (issue 13): how much of the machine a run kept busy training.

    python benchmarks/bench_efficiency.py RUN [RUN ...] [--cores N]

efficiency = (sum of every trial's training seconds, re-run epochs included) / (the run's wall
seconds x the cores it had), from each run directory alone: `train_seconds` of every row of
result.json and rerun.json, and metadata.json's start and end times. 1.0 would be every core
training all the time; what is missing went to Ray and Tune (starting trial processes,
experiment snapshots), to the driver, and to cores left idle (a single-run strategy holds one
core of two unless `--concurrent` runs another beside it). Also prints the run's wall seconds
and, for comparison, the summary table's per-strategy wall seconds, which count only the time
each (strategy, seed) was being fitted (so they add up to less than the run's wall time: the
driver's start-up, Ray's start and the table itself are outside them).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime
from pathlib import Path


def efficiency(run: Path, cores: int) -> dict[str, float]:
    meta = json.loads((run / "metadata.json").read_text())
    start = datetime.fromisoformat(meta["start_time"])
    end = datetime.fromisoformat(meta["end_time"])
    wall = (end - start).total_seconds()
    trained = 0.0
    for name in ("result.json", "rerun.json"):
        for f in run.glob(f"*-seed*/*/{name}"):
            for line in f.read_text().splitlines():
                if line.strip():
                    trained += float(json.loads(line).get("train_seconds") or 0.0)
    fitted = sum(float(v) for v in meta.get("driver_seconds", {}).values())
    return {"wall_s": wall, "trial_s": trained, "fitted_s": fitted,
            "efficiency": trained / (wall * cores) if wall > 0 else float("nan")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    print("| run | wall s | sum of trial training s | sum of (strategy, seed) fit s | efficiency |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        e = efficiency(Path(run), args.cores)
        label = f"{Path(run).parent.name}/{Path(run).name}"  # the storage says which code ran
        print(f"| {label} | {e['wall_s']:.0f} | {e['trial_s']:.0f} | {e['fitted_s']:.0f} | "
              f"{e['efficiency']:.2f} |")


if __name__ == "__main__":
    main()
