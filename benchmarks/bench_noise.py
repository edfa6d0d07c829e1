"""Learned per-layer noise vs the same model without noise, over seeds (issue 3).

Overfitting case: MNIST-1D, a 2-layer 512-wide MLP with LayerNorm (where regularization
visibly matters on a CPU): cross-reg should raise sigma from its start and beat sigma = 0 on test accuracy.
Underfitting case: a narrow 1-layer MLP (width 16) on the same data: it cannot even fit the
training split, so noise only hurts and cross-reg should push sigma down.

    python benchmarks/bench_noise.py [--seeds 5] [--epochs 60]

Prints a markdown table to paste into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from trainables import run_trial

BASE = dict(dataset="mnist1d", model="mlp", depth=2, width=512, epochs=60, batch_size=100,
            reg_batch_size=100, lr=1e-3, optimizer="adam", family="noise", K=4, r=1,
            rho_optimizer="adam", rho_lr=1e-2)
CASES = {
    "overfit: MLP 2x512": {},
    "underfit: MLP 1x16": dict(depth=1, width=16),
}
SIGMA_START = 0.1  # below what the overfit case ends at: the rise is the finding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--start", type=float, default=SIGMA_START, help="initial sigma of every layer")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
    print("| case | sigma=0 test acc | cross-reg test acc | learned sigma (mean over seeds) | start |")
    print("|---|---|---|---|---|")
    for case, overrides in CASES.items():
        acc_fixed, acc_cross, sigmas = [], [], []
        for seed in range(args.seeds):
            cfg = {**BASE, **overrides, "epochs": args.epochs, "seed": seed, "split_seed": seed}
            fixed = run_trial({**cfg, "mode": "fixed", "rho": 0.0})[-1]
            cross = run_trial({**cfg, "mode": "cross_reg", "rho": args.start})[-1]
            acc_fixed.append(fixed["test_acc"])
            acc_cross.append(cross["test_acc"])
            sigmas.append([v for k, v in sorted(cross.items()) if k.startswith("rho/")])
            print(f"  {case} seed {seed}: fixed {fixed['test_acc']:.3f} cross {cross['test_acc']:.3f} "
                  f"sigma {[round(s, 3) for s in sigmas[-1]]}", flush=True)
        mean_sigma = [round(statistics.mean(col), 3) for col in zip(*sigmas)]
        print(f"| {case} | {_fmt(acc_fixed)} | {_fmt(acc_cross)} | {mean_sigma} | {args.start} |")


def _fmt(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return (f"{100 * statistics.mean(values):.1f}% ± {100 * sd:.1f} "
            f"(min {100 * min(values):.1f}, max {100 * max(values):.1f})")


if __name__ == "__main__":
    main()
