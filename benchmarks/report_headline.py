"""The headline (issue 9) and the rivals table (issue 12), printed from run directories.

    crossreg run mnist1d-noise --seeds 10 --concurrent --strategies cross_reg fixed pbt \\
        grid_cv asha deep_ensemble random hyperband pb2 tpe --storage runs/headline
    crossreg run mnist1d-noise --seeds 10 --concurrent --strategies t1t2 concrete_dropout \\
        --storage runs/rivals
    crossreg sweep mnist1d-noise --seeds 3 --concurrent --strategies cross_reg pbt grid_cv asha \\
        --storage runs/sweep
    python benchmarks/report_headline.py RUN [RUN ...] [--sweep SWEEP_RUN ...] \
        [--as-variant pbt=pbt.P8 grid_cv=grid_cv.G5] [--plot docs/headline.png] [--plot-cost fwd]

Prints, in markdown: the comparison table of every strategy (all runs pooled: they are runs of
the same experiment on the same seeds and splits, so their seeds pair); the paired tests of
cross_reg against each strategy on test accuracy and on ECE; and, from a sweep, the variants'
table, the cost-to-match table on sample-forward passes and on FLOPs, and cross-reg's (r, K)
curve. `--plot` writes the accuracy-vs-cost figure of every method's curve, priced in FLOPs
(`--plot-cost fwd`: sample-forward passes, the axis of the figures before the fair protocol),
each method as run once: the epochs an interruption made it re-run are left out.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import pandas as pd


def _pooled(paths: list[str]) -> pd.DataFrame:
    """The runs as one experiment: their seeds are the same splits, so they pair (sweeps:
    the variants of all of them)."""
    import analysis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = analysis.load_results(paths)
    metadata = df.attrs.get("metadata")
    df = df.assign(run="pooled")
    df["run"] = df["run"].astype("category")
    df.attrs["metadata"] = {"pooled": {**next(iter(metadata.values())),
                                       "completed": {k: v for m in metadata.values()
                                                     for k, v in m.get("completed", {}).items()},
                                       "driver_seconds": {k: v for m in metadata.values()
                                                          for k, v in m.get("driver_seconds", {}).items()},
                                       "strategies": sorted({s for m in metadata.values()
                                                             for s in m.get("strategies", [])}),
                                       # several sweeps (one per `crossreg sweep`): every variant
                                       "sweep": {k: v for m in metadata.values()
                                                 for k, v in (m.get("sweep") or {}).items()} or None}}
    return df


def _as_variants(sweep_df: pd.DataFrame, runs_df: pd.DataFrame, items: list[str]) -> pd.DataFrame:
    """The sweep plus, as budget points of its curves, the pooled runs' own strategies
    (`pbt=pbt.P8`: the headline's PBT, at the spec's population, on the sweep's seeds): a
    budget the headline already ran need not run again in the sweep. Its budget is read
    from the runs' spec (grid CV: its own grid values)."""
    from harness import strategies

    seeds = set(sweep_df["seed"])
    meta = dict(sweep_df.attrs["metadata"]["pooled"])
    runs_meta = next(iter(runs_df.attrs["metadata"].values()))
    spec = runs_meta["spec"]
    sweep, completed = dict(meta.get("sweep") or {}), dict(meta.get("completed", {}))
    driver = dict(meta.get("driver_seconds", {}))
    added = []
    for item in items:
        strategy, _, variant = item.partition("=")
        # a grid's budget is its values (the sweep's `grid_size` makes them)
        keys = ["grid_values" if f == "grid_size" else f for f in strategies.get(strategy).budget_fields]
        budget = {k: spec[k] for k in keys}
        sweep[variant] = {"strategy": strategy, "budget": budget}
        rows = runs_df[(runs_df["strategy"].astype(str) == strategy) & runs_df["seed"].isin(seeds)]
        added.append(rows.assign(strategy=variant))
        for seed in sorted(seeds):
            key = f"{strategy}-seed{seed}"
            if key in runs_meta.get("completed", {}):
                completed[f"{variant}-seed{seed}"] = runs_meta["completed"][key]
            if key in runs_meta.get("driver_seconds", {}):
                driver[f"{variant}-seed{seed}"] = runs_meta["driver_seconds"][key]
    out = pd.concat([sweep_df.assign(strategy=sweep_df["strategy"].astype(str)), *added],
                    ignore_index=True)
    out["strategy"] = out["strategy"].astype("category")
    out["run"] = out["run"].astype(str).astype("category")
    out.attrs["metadata"] = {"pooled": {**meta, "sweep": sweep, "completed": completed,
                                        "driver_seconds": driver,
                                        "strategies": sorted(set(out["strategy"].astype(str)))}}
    return out


def _with_points(curves: pd.DataFrame, points: pd.DataFrame, cost: str) -> pd.DataFrame:
    """The sweep's curves plus, as one-budget methods, the pooled runs' strategies the sweep
    did not vary (each at its own seeds), the Pareto front taken over all of them on the
    `cost` axis: every method of the headline in one accuracy-vs-cost figure."""
    from analysis.summary import pareto_front

    # a method the sweep varied, or one of its variants (a run of both, as the fair headline)
    swept = set(curves["method"].astype(str)) | set(curves["strategy"].astype(str))
    extra = points[~points["strategy"].astype(str).isin(swept)].copy()
    extra.insert(3, "method", extra["strategy"].astype(str))
    extra.insert(4, "budget", [f"{n} seeds" for n in extra["n_seeds"]])
    extra["is_reference"] = False
    rows = pd.concat([curves, extra], ignore_index=True)
    rows["pareto"] = rows.index.isin(pareto_front(rows, cost=cost).index)
    return rows


def _tests(df: pd.DataFrame, metric: str) -> str:
    """cross_reg against each strategy on `metric`, paired over seeds; for test accuracy, where
    the final models saved their per-example predictions, the test rows' own noise beside it
    (exact McNemar on the discordant rows, the seeds-then-rows bootstrap interval)."""
    import analysis

    others = sorted(set(df["strategy"].astype(str)) - {"cross_reg"})
    rows_too = metric == "test_acc"
    extra = " McNemar p | seeds x rows 95% CI (pp) |" if rows_too else ""
    rows = []
    for other in others:
        try:
            c = analysis.compare(df, "cross_reg", other, metric).iloc[0]
        except ValueError as e:  # no seed where both have a final model (not run yet)
            rows.append(f"| {other} | 0 | {e} | | | | | |" + (" | |" if rows_too else ""))
            continue
        scale = 100.0
        line = (f"| {other} | {int(c['n_pairs'])} | {scale * c['mean_a']:.2f} | "
                f"{scale * c['mean_b']:.2f} | {scale * c['mean_diff']:+.2f} | "
                f"{c['ttest_p']:.3g} | {c['wilcoxon_p']:.3g} | {_ci(c, scale)} |")
        if rows_too:
            line += f" {_p(c.get('mcnemar_p'))} | {_ci(c, scale, 'rows_')} |"
        rows.append(line)
    head = (f"| vs | pairs | cross_reg {metric} % | other % | difference (pp) | paired t p | "
            f"Wilcoxon p | bootstrap 95% CI (pp) |{extra}\n|"
            + "---|" * (10 if rows_too else 8))
    return head + "\n" + "\n".join(rows)


def _p(value: float | None) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.3g}"


def without_reruns(df: pd.DataFrame) -> pd.DataFrame:
    """`df` without the rows an interrupt made a unit re-run: each method as if run once
    without a stop. A run that crosses sessions re-trains what an interrupt cut off (a
    HyperBand restarts from scratch); that cost belongs to the session ends, not the method."""
    if "rerun" not in df:
        return df
    kept = df[~df["rerun"].to_numpy(dtype=bool)]
    kept.attrs = dict(df.attrs)
    return kept


def _ci(c: pd.Series, scale: float, prefix: str = "") -> str:
    low, high = c.get(f"{prefix}ci_low"), c.get(f"{prefix}ci_high")
    if low is None or pd.isna(low):
        return str(c.get("examples_note" if prefix else "ci_method", "withheld"))
    return f"[{scale * low:+.2f}, {scale * high:+.2f}]"


def main() -> None:
    import analysis
    from analysis.summary import format_sweep, format_table, sweep_summary

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--sweep", nargs="+", default=[],
                   help="sweep run directories (one per `crossreg sweep`), read together")
    p.add_argument("--as-variant", nargs="+", default=[], metavar="STRATEGY=VARIANT",
                   help="a strategy of RUN as a budget point of the sweep's curve "
                        "(pbt=pbt.P8: the headline's PBT at the spec's population)")
    p.add_argument("--plot")
    p.add_argument("--plot-cost", default="flops", choices=("flops", "fwd"),
                   help="the plot's cost axis (default flops, the headline's price)")
    args = p.parse_args()
    print(f"<!-- {time.strftime('%Y-%m-%d')}, {platform.machine()} CPU, "
          f"python benchmarks/report_headline.py {' '.join(args.runs)}"
          f"{' --sweep ' + ' '.join(args.sweep) if args.sweep else ''}"
          f"{' --as-variant ' + ' '.join(args.as_variant) if args.as_variant else ''} -->")
    df = _pooled(args.runs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print("```\n" + format_table(analysis.summarize(df)) + "\n```\n")
        print("Paired tests over seeds, cross_reg against each (test accuracy):\n")
        print(_tests(df, "test_acc") + "\n")
        print("The same on test ECE (lower is better):\n")
        print(_tests(df, "test_ece") + "\n")
        if not args.sweep:
            return
        sweep_df = _pooled(args.sweep)  # their seeds pair, across sweeps too
        if args.as_variant:
            sweep_df = _as_variants(sweep_df, df, args.as_variant)
        print("```\n" + format_sweep(sweep_df, cost="fwd") + "\n```\n")
        print("```\n" + format_sweep(sweep_df, cost="flops") + "\n```\n")
        table = sweep_summary(sweep_df)
        curve = table[table["method"].astype(str) == "cross_reg"].sort_values("fwd_total")
        print("Cross-reg's (r, K) curve (mean over seeds):\n")
        print("| variant | test acc % | ECE % | fwd / seed | GFLOPs / seed |\n|---|---|---|---|---|")
        for r in curve.itertuples():
            print(f"| {r.strategy} | {100 * r.test_acc_mean:.2f} | {100 * r.test_ece_mean:.2f} | "
                  f"{r.fwd_total:.3g} | {r.flops_total / 1e9:.0f} |")
        if args.plot:
            from analysis.plots import sweep_figure

            # priced as each method run once: interruptions' re-runs left out
            figure_rows = _with_points(sweep_summary(without_reruns(sweep_df)),
                                       analysis.summarize(without_reruns(df), cost=args.plot_cost),
                                       args.plot_cost)
            sweep_figure(figure_rows, cost=args.plot_cost).savefig(args.plot, dpi=110,
                                                                   bbox_inches="tight")
            print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
