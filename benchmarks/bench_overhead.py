"""Wall-time and forward-pass overhead of a cross-reg epoch over a fixed-lambda epoch (issue 3).

Both trials use the same model, data, batch size and noise family; the fixed one has sigma
frozen at the start value, the cross-reg one learns it. Epochs of the two are interleaved in
one process (A B A B ...) so that machine load affects both alike, and the ratio of median
epoch times is reported next to the ratio of sample-forward passes (fwd_train + fwd_reg).

    python benchmarks/bench_overhead.py [--epochs 6] [--device auto]

The paper's claim is about 10% overhead, from O(T (1 + K/r)) forward passes with a small K/r.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from trainables.trial import Trial

SETTINGS = [(1, 4), (4, 4), (10, 4), (40, 4), (10, 1)]  # (r, K)
MODELS = {
    "MNIST-1D MLP 2x512": dict(dataset="mnist1d", model="mlp", width=512, depth=2, batch_size=100),
    "MNIST-1D CNN": dict(dataset="mnist1d", model="cnn", batch_size=100),
}


def train_epoch_time(trial: Trial) -> tuple[float, int]:
    """Seconds and sample-forward passes of one training epoch (evaluation excluded: it is
    the same for both modes and is not part of the method's cost)."""
    s = trial.splits
    start = time.perf_counter()
    stats = trial.engine.train_epoch(s.train.x, s.train.y, s.reg.x, s.reg.y)
    if trial.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, stats.counters.fwd_train + stats.counters.fwd_reg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1, as Ray gives a 1-CPU trial; steadier timings)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else (
        "cpu" if args.device == "auto" else args.device)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.machine() + " CPU"
    print(f"device: {name}; torch threads {torch.get_num_threads()}; {time.strftime('%Y-%m-%d')}")
    print("| model | r | K | wall ratio (median epoch) | forward ratio | fixed epoch s |")
    print("|---|---|---|---|---|---|")
    for label in args.models:
        base = {**MODELS[label], "family": "noise", "rho": 0.5, "reg_batch_size": 100,
                "device": device, "eval_batch_size": 1000}
        for r, K in SETTINGS:
            fixed = Trial({**base, "mode": "fixed"})
            cross = Trial({**base, "mode": "cross_reg", "r": r, "K": K})
            train_epoch_time(fixed), train_epoch_time(cross)  # warm-up (allocations, kernels)
            t_fixed, t_cross, fwd_fixed, fwd_cross = [], [], 0, 0
            for _ in range(args.epochs):  # interleaved: load changes hit both alike
                seconds, fwd = train_epoch_time(fixed)
                t_fixed.append(seconds)
                fwd_fixed += fwd
                seconds, fwd = train_epoch_time(cross)
                t_cross.append(seconds)
                fwd_cross += fwd
            wall = statistics.median(t_cross) / statistics.median(t_fixed)
            print(f"| {label} | {r} | {K} | {wall:.2f} | {fwd_cross / fwd_fixed:.2f} "
                  f"| {statistics.median(t_fixed):.3f} |", flush=True)


if __name__ == "__main__":
    main()
