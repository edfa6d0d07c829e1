"""Benchmark: the cross-regularized linear estimators against their classic searches, 20 seeds.

    python benchmarks/bench_linear.py [--seeds 20] [--out benchmarks/linear_results.json]

Prints markdown tables (per seed and summary) for:
* ridge: validation-MSE gap to the best of sklearn Ridge over 400 log-spaced alphas on the same
  split, alpha_ next to the path's best alpha; the reference problem (Toeplitz 0.3, n_train=200,
  n_val=100, p=30) and a harder, more anisotropic one (Toeplitz 0.6, 150/75, p=40);
* lasso: diabetes, 20 seeded 75/25 splits: non-zeros vs the band (hold-out path alphas within
  1% of the best validation MSE, widened by LassoCV's count) and the validation-MSE gap;
* spline: noisy 1-D function, 20 seeds: test MSE (noisy test set) over the GCV smoothing
  spline's, and the error against the noise-free function.
The problem definitions live in `trainables.linear_demo` (shared with the tests).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

import numpy as np

from trainables import linear_demo as D

HARD_RIDGE = {"corr": 0.6, "n_train": 150, "n_val": 75, "p": 40}


def _summary(name: str, values: list[float], fmt: str = "{:+.2%}") -> str:
    v = np.asarray(values)
    return (f"| {name} | {fmt.format(np.median(v))} | {fmt.format(v.max())} | "
            f"{fmt.format(v.min())} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--out", default=None, help="optional JSON dump of every row")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    seeds = range(args.seeds)
    t0 = time.time()
    ridge = [D.ridge_comparison(s) for s in seeds]
    hard = [D.ridge_comparison(s, problem=HARD_RIDGE) for s in seeds]
    lasso = [D.lasso_comparison(s) for s in seeds]
    spline = [D.spline_comparison(s) for s in seeds]
    elapsed = time.time() - t0

    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}; wall time {elapsed:.0f} s\n")
    print("## Ridge, reference problem (per seed)\n")
    print("| seed | val MSE | best path val MSE | gap | alpha_ | best path alpha | steps |")
    print("|---|---|---|---|---|---|---|")
    for r in ridge:
        print(f"| {r['seed']} | {r['val_mse']:.4f} | {r['best_val_mse']:.4f} | {r['gap']:+.2%} | "
              f"{r['alpha']:.3g} | {r['best_alpha']:.3g} | {r['n_iter']} |")
    print("\n## Ridge, harder anisotropic problem (per seed)\n")
    print("| seed | gap | alpha_ | best path alpha |")
    print("|---|---|---|---|")
    for r in hard:
        print(f"| {r['seed']} | {r['gap']:+.2%} | {r['alpha']:.3g} | {r['best_alpha']:.3g} |")
    print("\n## Lasso, diabetes (per split seed)\n")
    print("| seed | nnz | band | path band | LassoCV nnz | gap | alpha_ | best path alpha | LassoCV alpha |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in lasso:
        print(f"| {r['seed']} | {r['nnz']} | {r['band'][0]}..{r['band'][1]} | "
              f"{r['path_band'][0]}..{r['path_band'][1]} | {r['cv_nnz']} | {r['gap']:+.2%} | "
              f"{r['alpha']:.3g} | {r['best_alpha']:.3g} | {r['cv_alpha']:.3g} |")
    print("\n## Spline (per seed)\n")
    print("| seed | test MSE ratio | err vs f | GCV err vs f | lam_ | steps | converged |")
    print("|---|---|---|---|---|---|---|")
    for r in spline:
        print(f"| {r['seed']} | {r['ratio']:.3f} | {r['f_err']:.5f} | {r['gcv_f_err']:.5f} | "
              f"{r['lam']:.3g} | {r['n_iter']} | {r['converged']} |")

    in_band = sum(r["band"][0] <= r["nnz"] <= r["band"][1] for r in lasso)
    print("\n## Summary\n")
    print("| quantity | median | worst | best |")
    print("|---|---|---|---|")
    print(_summary("ridge gap, reference (target <= 3%)", [r["gap"] for r in ridge]))
    print(_summary("ridge gap, anisotropic", [r["gap"] for r in hard]))
    print(_summary("lasso gap (target <= 5%)", [r["gap"] for r in lasso]))
    print(_summary("spline test MSE ratio - 1 (target <= 10%)", [r["ratio"] - 1 for r in spline]))
    print(_summary("spline error-vs-f ratio - 1", [r["f_err"] / r["gcv_f_err"] - 1 for r in spline]))
    print(f"\nlasso non-zeros inside the band: {in_band}/{len(lasso)}; "
          f"ridge alpha_ < 0 (rho_ beyond the least-squares norm): "
          f"{sum(r['alpha'] < 0 for r in ridge)}/{len(ridge)} reference, "
          f"{sum(r['alpha'] < 0 for r in hard)}/{len(hard)} anisotropic; "
          f"spline converged {sum(r['converged'] for r in spline)}/{len(spline)}")
    cost = np.median([(r["fwd_train"] + r["fwd_reg"]) / r["path_fwd"] for r in ridge])
    print(f"ridge sample-forwards, cross-reg / 400-alpha path (one full-batch pass per fit): "
          f"median {cost:.3f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"ridge": ridge, "ridge_anisotropic": hard, "lasso": lasso,
                       "spline": spline}, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
