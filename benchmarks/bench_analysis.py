"""Benchmark: load_results + summarize on a synthetic experiment of 100,000 result rows.

    python benchmarks/bench_analysis.py [--rows 100000] [--repeats 3] [--keep DIR]

Writes one experiment in the contract's layout (docs/contract.md) to a temporary
folder: 5 seeds x {cross_reg: 1 trial, pbt: 32 members, grid_cv: 8 x 5 folds +
refit, asha: trials stopped at 3 / 9 / 27 / 100 epochs until the row budget is
spent}, 100 epochs, each line as Ray Tune writes it (our metric keys flat, FLOPs and
device seconds, Ray's keys, the nested ``config``; about 1 kB a line) with a
metadata.json as the harness writes it (per-seed ``completed`` and ``driver_seconds``);
every 8th PBT member re-ran 2 epochs (a ``rerun.json`` beside its result.json, not
counted in ``--rows``). Then times ``load_results`` and ``summarize`` (best of
``--repeats``; the target is under 2 s together).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

EPOCHS = 100
SEEDS = 5


def _lines(tid: str, strategy: str, seed: int, n_epochs: int, quality: float, rng, role: str,
           cfg: dict, t0: float) -> str:
    out = []
    for e in range(1, n_epochs + 1):
        frac = 1 - math.exp(-3 * e / EPOCHS)
        acc = 0.1 + (quality - 0.1) * frac + 0.005 * rng.standard_normal()
        row = {
            "epoch": e, "train_loss": 2 * (1 - frac), "train_acc": acc + 0.05,
            "val_loss": 2 * (1 - acc), "val_acc": acc, "test_loss": 2 * (1 - acc), "test_acc": acc,
            "test_ece": 0.05 + 0.01 * rng.random(), "test_nll": 2 * (1 - acc) + 0.1, "test_brier": 1 - acc,
            "rho/sigma_0": 0.5 + 0.001 * e, "rho/sigma_1": 0.1, "fwd_train": 4000,
            "fwd_reg": 1600 if strategy == "cross_reg" else 0, "fwd_eval": 500, "fwd_test": 1000,
            "flops_train": 4000 * 2.7e6, "flops_reg": 1600 * 6.9e6 if strategy == "cross_reg" else 0.0,
            "flops_eval": 500 * 1e6, "flops_test": 1000 * 1e6, "device_seconds": 0.2,
            "train_seconds": 0.8, "n_train": 4000, "n_reg": 500, "n_test": 1000, "diverged": False,
            "experiment": "bench", "strategy": strategy, "seed": seed, "role": role,
            "trial_id": tid, "training_iteration": e, "time_this_iter_s": 0.8, "time_total_s": 0.8 * e,
            "timestamp": int(t0 + 0.8 * e), "date": "2026-11-25_12-00-00", "done": e == n_epochs,
            "pid": 4242, "hostname": "bench", "node_ip": "127.0.0.1", "time_since_restore": 0.8 * e,
            "iterations_since_restore": e, "checkpoint_dir_name": None, "config": cfg,
        }
        out.append(json.dumps(row))
    return "\n".join(out) + "\n"


def write_synthetic(root: Path, n_rows: int = 100_000) -> tuple[Path, int, int]:
    """Write the benchmark experiment; returns (run folder, result rows, re-run rows)."""
    run = root / "bench-run"
    run.mkdir(parents=True)
    strategies = ["cross_reg", "pbt", "grid_cv", "asha"]
    done = {f"{s}-seed{k}": "finished" for s in strategies for k in range(SEEDS)}
    (run / "metadata.json").write_text(json.dumps({
        "experiment": "bench", "status": "finished", "seeds": list(range(SEEDS)), "strategies": strategies,
        "completed": done, "driver_seconds": {k: 60.0 for k in done},
        "spec": {"dataset": "mnist1d", "epochs": EPOCHS, "task": "classification"}}))
    base = {"dataset": "mnist1d", "model": "mlp", "width": 512, "depth": 2, "family": "noise", "K": 4,
            "r": 1, "rho_optimizer": "adam", "rho_lr": 0.01, "optimizer": "adam", "lr": 0.001,
            "epochs": EPOCHS, "batch_size": 128, "device": "cpu", "experiment": "bench"}
    per_seed = n_rows // SEEDS
    total = reruns = 0
    rng = np.random.default_rng(0)
    for seed in range(SEEDS):
        budget = per_seed if seed < SEEDS - 1 else n_rows - total
        plan: list[tuple[str, str, int, str, dict]] = [("cross_reg", f"cr{seed}_00000", EPOCHS, "single",
                                                        {"mode": "cross_reg"})]
        plan += [("pbt", f"pbt{seed}_{i:05d}", EPOCHS, "member", {"mode": "fixed", "rho": 0.1 * i})
                 for i in range(32)]
        plan += [("grid_cv", f"gcv{seed}_{i:05d}", EPOCHS, "fold", {"rho": 0.1 * (i // 5), "fold": i % 5})
                 for i in range(40)]
        plan += [("grid_cv", f"gcv{seed}_00040", EPOCHS, "refit", {"rho": 0.3, "fold": -1})]
        used = sum(p[2] for p in plan)
        stops = [3, 3, 3, 3, 3, 3, 9, 9, 27, 100]
        i = 0
        while used < budget:
            n = min(stops[i % len(stops)], budget - used)
            plan.append(("asha", f"asha{seed}_{i:05d}", n, "member", {"rho": 0.01 * i}))
            used += n
            i += 1
        for strategy, tid, n, role, cfg in plan:
            d = run / f"{strategy}-seed{seed}" / f"train_{tid}"
            d.mkdir(parents=True, exist_ok=True)
            text = _lines(tid, strategy, seed, n, 0.6 + 0.2 * rng.random(), rng, role,
                          {**base, **cfg, "seed": seed, "strategy": strategy, "role": role}, 1.75e9)
            (d / "result.json").write_text(text)
            total += n
            if strategy == "pbt" and int(tid[-5:]) % 8 == 0:
                (d / "rerun.json").write_text("".join(text.splitlines(keepends=True)[n // 2:n // 2 + 2]))
                reruns += 2
    return run, total, reruns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="write the experiment here and keep it")
    args = ap.parse_args()
    from analysis.results import load_results
    from analysis.summary import summarize

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench_analysis_"))
    try:
        t = time.perf_counter()
        run, n, reruns = write_synthetic(tmp, args.rows)
        size = sum(p.stat().st_size for p in run.rglob("*.json"))
        print(f"wrote {n} rows (+{reruns} re-run rows), {size / 1e6:.0f} MB of result.json/rerun.json in "
              f"{time.perf_counter() - t:.1f} s")
        best_load = best_sum = best_cpu = math.inf
        for _ in range(args.repeats):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # the synthetic experiment must load cleanly
                c0, t0 = time.process_time(), time.perf_counter()
                df = load_results(run)
                t1 = time.perf_counter()
                s = summarize(df)
                t2, c2 = time.perf_counter(), time.process_time()
            best_load, best_sum = min(best_load, t1 - t0), min(best_sum, t2 - t1)
            best_cpu = min(best_cpu, c2 - c0)
        assert len(df) == n + reruns and int(df["rerun"].sum()) == reruns and len(s) == 4, (len(df), len(s))
        assert s["flops_total"].notna().all() and (s["rerun_epochs"] > 0).sum() == 1
        assert (s["status"] == "finished").all() and df["final_epoch"].sum() == 4 * SEEDS
        print(f"load_results: {best_load:.3f} s  summarize: {best_sum:.3f} s  "
              f"total: {best_load + best_sum:.3f} s wall, {best_cpu:.3f} s CPU (all threads)  "
              f"(best of {args.repeats}; {len(df)} rows, {df.memory_usage(deep=True).sum() / 1e6:.0f} MB frame)")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"load average {load:.1f} at the end")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
