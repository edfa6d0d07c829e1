"""Soundness check of data and training: MNIST-1D accuracies against the published ones.

Greydanus (2020), "Scaling down deep learning": on MNIST-1D a CNN reaches about 94% test
accuracy and an MLP about 68%. We train our `cnn` and `mlp` (no regularization, fixed mode)
with the paper's recipe: Adam, lr 1e-2 (CNN) / 1e-3 (MLP), batch 100, about 6000 steps.
Our training pool is the dataset's 4000 training rows minus the 10% regularization split
(3600 rows), as in every harness run.

    python benchmarks/bench_mnist1d_reference.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from trainables import run_trial

RUNS = {
    "cnn": (dict(model="cnn", lr=1e-2, epochs=160), 0.94, 0.02),
    "mlp": (dict(model="mlp", width=512, depth=2, lr=1e-3, epochs=60), 0.68, 0.03),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=list(RUNS))
    args = parser.parse_args()
    print(f"date {time.strftime('%Y-%m-%d')}")
    print("| model | test acc (mean over seeds) | per seed | published | tolerance | within |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        overrides, published, tolerance = RUNS[name]
        accs = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            row = run_trial({"dataset": "mnist1d", "batch_size": 100, "optimizer": "adam",
                             "family": "none", "seed": seed, **overrides})[-1]
            accs.append(row["test_acc"])
            print(f"  {name} seed {seed}: {row['test_acc']:.3f} ({time.perf_counter() - start:.0f} s)",
                  flush=True)
        mean = statistics.mean(accs)
        ok = abs(mean - published) <= tolerance
        print(f"| {name} | {100 * mean:.1f}% | {[round(100 * a, 1) for a in accs]} | "
              f"{100 * published:.0f}% | ±{100 * tolerance:.0f} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
