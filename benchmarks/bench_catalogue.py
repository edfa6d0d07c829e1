"""The regularizer catalogue on MNIST-1D (issue 11): for every family, no regularization vs
the fixed value grid CV chooses vs the value cross-reg learns (where it can), over seeds; and
the two-network `pair` penalty (both directions) against a 2-member deep ensemble of equal cost;
and the 2-D CNN on digits images with and without fractional max-pooling (a model option).

    python benchmarks/bench_catalogue.py --seeds 3 --storage /path/to/runs [--families ...]

Each family runs its registered experiment (`mnist1d-<family>`, `crossreg list`) through the
harness with `grid_cv` (3 folds here; even so the whole catalogue takes two to three hours on
two CPU cores: a second call reuses every finished run in `--storage`) and, for a family
cross-reg can learn, `cross_reg`; "none" is the `fixed` strategy of mnist1d-noise at sigma = 0
(the same network with no regularizer), and a family on another network (stochastic_depth's
residual MLP) has its own "none": its `fixed` twin at rho = 0. Prints one markdown table:
test accuracy, ECE (mean ± t-interval half-width over seeds) and cost (sample-forward passes
and FLOPs per seed) per (family, method), with the command, machine and date.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from pathlib import Path
from typing import Any

FAMILIES = ("gaussian_dropout", "weight_noise", "orthogonal", "l1_net", "weight_norm", "noise",
            "dropout", "dropconnect", "stochastic_depth", "cutout", "mixup")


def _finished(spec: Any, storage: str) -> str | None:
    """A finished run of this spec already in `storage` (same name and seeds, every (strategy,
    seed) finished: none errored), if any: the catalogue takes hours on two cores, so a
    second call goes on where the first stopped."""
    for meta_path in sorted(Path(storage).glob(f"{spec.name}-*/metadata.json"), reverse=True):
        meta = json.loads(meta_path.read_text())
        whole = all(v == "finished" for v in meta.get("completed", {}).values())
        same_seeds = meta.get("seeds") == list(range(spec.seeds))
        if meta.get("status") == "finished" and whole and same_seeds:
            return str(meta_path.parent)
    return None


def _run(spec: Any, storage: str, finished_only: bool) -> str | None:
    """The run of `spec`: a finished one `storage` holds, else a new one (none when
    `finished_only`: the table then says what is there)."""
    from harness.run import runner

    done = _finished(spec, storage)
    if done:
        print(f"# {spec.name}: reusing {done}", flush=True)
        return done
    if finished_only:
        print(f"# {spec.name}: not run yet", flush=True)
        return None
    path = runner.start(spec, runner.RunOptions(storage=storage, concurrent=True,
                                                echo=lambda s: None))
    print(f"# {spec.name}: {path}", flush=True)
    return path


def _rows(path: str | None, family: str) -> list[dict[str, Any]]:
    import analysis

    if path is None:
        return []
    table = analysis.summarize(analysis.load_results(path), cost="flops")
    out = []
    for r in table.itertuples():
        out.append({"family": family, "method": str(r.strategy), "acc": r.test_acc_mean,
                    "acc_lo": r.test_acc_ci_low, "acc_hi": r.test_acc_ci_high,
                    "ece": r.test_ece_mean, "fwd": r.fwd_total, "flops": r.flops_total,
                    "seeds": r.n_seeds})
    return out


def main() -> None:
    from harness import strategies
    from harness.experiments import registry

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--storage", default="results/catalogue")
    p.add_argument("--families", nargs="*", default=list(FAMILIES))
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--no-pair", dest="pair", action="store_false",
                   help="skip pair (both directions) vs a 2-member deep ensemble")
    p.add_argument("--no-pooling", dest="pooling", action="store_false",
                   help="skip the digits CNN with and without fractional max-pooling")
    p.add_argument("--finished-only", action="store_true",
                   help="print the table of the runs --storage already holds; run nothing")
    args = p.parse_args()
    run = functools.partial(_run, storage=args.storage, finished_only=args.finished_only)
    started = time.time()
    rows: list[dict[str, Any]] = []
    none = registry.get("mnist1d-noise").replace(
        name="catalogue-none", epochs=40, seeds=args.seeds, strategies=("fixed",), fixed_rho=0.0,
        pbt_interval=2)
    for r in _rows(run(none), "none"):
        rows.append({**r, "method": "none"})
    for family in args.families:
        name = "mnist1d-noise" if family == "noise" else f"mnist1d-{family.replace('_', '-')}"
        base = registry.get(name)
        learnable = any(strategies.get(s).learns_rho for s in base.strategies)
        chosen = ("grid_cv", "cross_reg") if learnable else ("grid_cv",)
        spec = base.replace(name=f"catalogue-{family}", epochs=40, seeds=args.seeds,
                            strategies=chosen, cv_folds=args.folds)
        rows += _rows(run(spec), family)
        if base.trial.model != none.trial.model:  # its own network with no regularizer
            plain = spec.replace(name=f"catalogue-{family}-none", strategies=("fixed",),
                                 fixed_rho=0.0)
            rows += [{**r, "method": f"none ({base.trial.model})"}
                     for r in _rows(run(plain), family)]
    if args.pair:  # the two-network penalty, both directions, against a 2-member ensemble
        for direction in ("agree", "diverse"):
            spec = registry.get("mnist1d-pair").replace(
                name=f"catalogue-pair-{direction}", epochs=40, seeds=args.seeds,
                strategies=("grid_cv",), cv_folds=args.folds, pair_direction=direction)
            rows += [{**r, "method": f"grid_cv ({direction})"}
                     for r in _rows(run(spec), "pair")]
        ensemble = none.replace(name="catalogue-ensemble2", strategies=("deep_ensemble",),
                                ensemble_members=2)
        rows += [{**r, "method": "deep_ensemble (M=2)"}
                 for r in _rows(run(ensemble), "pair")]
    if args.pooling:  # a model option: the digits 2-D CNN with and without fractional pooling
        base = registry.get("digits-cnn-fractional")
        for pool in ("none", "max", "fractional"):
            spec = base.replace(name=f"catalogue-pool-{pool}", seeds=args.seeds,
                                strategies=("fixed",), pool=pool,
                                pool_ratio=None if pool != "fractional" else 2 ** 0.5)
            rows += [{**r, "method": f"pool={pool}"}
                     for r in _rows(run(spec), "cnn pooling (digits)")]
    print(f"# catalogue: MNIST-1D, 2x512 MLP (resmlp for stochastic_depth), 40 epochs, "
          f"{args.seeds} seeds; grid CV {args.folds} folds")
    print(f"# command: python benchmarks/bench_catalogue.py --seeds {args.seeds}; machine: "
          f"{platform.machine()} {platform.processor() or ''}, date {time.strftime('%Y-%m-%d')}; "
          f"{(time.time() - started) / 60:.0f} min")
    print("| family | method | test acc % | ECE % | fwd / seed | GFLOPs / seed |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        half = (r["acc_hi"] - r["acc_lo"]) / 2 * 100 if r["seeds"] > 1 else float("nan")
        print(f"| {r['family']} | {r['method']} | {100 * r['acc']:.1f} ± {half:.1f} | "
              f"{100 * r['ece']:.1f} | {r['fwd']:.3g} | {r['flops'] / 1e9:.0f} |")


if __name__ == "__main__":
    main()
