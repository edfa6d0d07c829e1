"""`crossreg suite` and the suite halves of `resume`, `list` and `analyze`.

Kept apart from harness.cli.commands so that the suite's flags and printing live in one
file and the commands module only dispatches to them; the suite's declaration is
harness.experiments.suite_spec, its running harness.run.suite.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from harness.errors import HarnessError
from harness.experiments import overrides
from harness.run.suite import is_suite_dir


def add_flags(u: argparse.ArgumentParser) -> None:
    """`suite`'s flags: which suite, then `run`'s (they mean the same, applied to every task)."""
    from harness.experiments import suites

    u.add_argument("name", nargs="?", default=None,
                   help=f"a registered suite ({', '.join(suites.names())})")
    u.add_argument("--config", metavar="SUITE.toml",
                   help="a suite file: name, seeds, strategies and [[task]] tables "
                        "(base, optional name, experiment fields)")
    u.add_argument("--plan", action="store_true",
                   help="print each task's trials, epochs and estimated FLOPs (no training, "
                        "no Ray, no data needed)")
    u.add_argument("--device-flops", metavar="F",
                   help="with --plan: device-hours at F FLOP/s, or a device's peak "
                        "(v100, a100, h100, h200)")
    u.add_argument("--strategies", nargs="+", metavar="S", help="strategies (default: the suite's)")
    u.add_argument("--seeds", type=int, help="number of seeds (default: the suite's)")
    u.add_argument("--storage", default="results",
                   help="directory or URI for the suite directory; default ./results")
    u.add_argument("--address", help="Ray cluster address; default: $RAY_ADDRESS, else a local Ray")
    u.add_argument("--gpus-per-trial", type=float, metavar="F", help="GPUs per trial, every task")
    u.add_argument("--cpus-per-trial", type=float, metavar="F", help="CPUs per trial, every task")
    u.add_argument("--smoke", action="store_true",
                   help="shrink every task (epochs, searches) to one seed, for a fast check")
    u.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override one experiment field of every task (repeatable)")
    u.add_argument("--trainable", default=None, metavar="MODULE:ATTR",
                   help="Tune function trainable (default trainables.tune:train_fn)")


def resolve(args: argparse.Namespace) -> Any:
    """The suite to run: a registered one or a file, with the command line's changes."""
    from harness.experiments import suite_spec, suites

    if args.config and args.name:
        raise HarnessError("suite: give a registered NAME or --config FILE, not both")
    if not args.config and not args.name:
        raise HarnessError(f"suite: name a registered suite ({', '.join(suites.names())}) "
                           "or give --config suite.toml")
    spec = suite_spec.load_toml(args.config) if args.config else suites.get(args.name)
    sets = overrides.parse_sets(args.sets)
    if args.gpus_per_trial is not None:
        sets["gpus_per_trial"] = args.gpus_per_trial
    if args.cpus_per_trial is not None:
        sets["cpus_per_trial"] = args.cpus_per_trial
    return spec.changed(sets=sets, strategies=args.strategies, seeds=args.seeds, smoke=args.smoke)


def cmd_suite(args: argparse.Namespace, run_options: Callable[..., Any]) -> int:
    from harness.run import runner, suite

    spec = resolve(args)
    if args.plan:
        from harness.experiments import plan as suite_plan

        print(suite_plan.plan_text(spec, suite_plan.device_rate(args.device_flops)))
        return 0
    if args.device_flops is not None:
        raise HarnessError("--device-flops goes with --plan")
    options = run_options(args, storage=args.storage, address=args.address,
                          concurrent=not args.sequential,
                          trainable=args.trainable or runner.DEFAULT_TRAINABLE)
    finale(suite.start(spec, options))
    return 0


def resume(path: str, options: Any) -> str:
    from harness.run import suite

    return suite.resume(path, options)


def finale(suite_dir: str) -> None:
    """The across-task table, then what to do next."""
    print(f"\nsuite: {suite_dir}")
    try:
        print(analyze_text(suite_dir))
    except ValueError as e:  # too few tasks or strategies for the across-task statistics
        print(f"(no across-task table: {e})")
    print(f"\nnext: crossreg analyze {suite_dir}")


def list_text() -> str:
    from harness.experiments import suite_spec, suites

    return "\n".join(suite_spec.describe(suites.SUITES))


def per_task_table(df: Any, metric: str) -> str:
    """One row per strategy, one column per task: the mean final `metric` over seeds
    (± its standard deviation), the per-task view under the across-task table."""
    import analysis

    finals = analysis.final_rows(df)
    finals = finals.assign(strategy=finals["strategy"].astype(str), task=finals["task"].astype(str))
    grouped = finals.groupby(["strategy", "task"])[metric]
    mean, std = grouped.mean().unstack("task"), grouped.std().unstack("task")
    tasks = list(mean.columns)
    cells = {s: [("-" if mean.loc[s, t] != mean.loc[s, t] else
                  f"{mean.loc[s, t]:.4f}" + ("" if std.loc[s, t] != std.loc[s, t]
                                             else f" ± {std.loc[s, t]:.4f}"))
                 for t in tasks] for s in mean.index}
    header = ["strategy", *tasks]
    rows = [[s, *c] for s, c in cells.items()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"per task: final {metric}, mean ± sd over seeds"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


def analyze_text(path: str, metric: str | None = None) -> str:
    """`crossreg analyze SUITE_DIR [--metric M]`: the across-task table, then the per-task
    table, ranked on `metric` over the tasks that record it (a regression task has no
    accuracy), or by default on the suite's own metric (`analysis.suite_report.suite_metric`:
    test accuracy where every task has one, else the test loss)."""
    import analysis
    from analysis.contract import metric_mode
    from analysis.suite_report import suite_metric, tasks_recording

    df = analysis.load_results(path)
    left_out: list[str] = []
    if metric is None:
        metric = suite_metric(df)
    else:
        try:
            metric_mode(metric)
        except ValueError as e:
            raise HarnessError(f"--metric {metric}: {e}") from None
        recorded = tasks_recording(df, metric)
        if not recorded.any():
            raise HarnessError(f"--metric {metric}: no task of {path} records it")
        left_out = sorted(str(t) for t, has in recorded.items() if not has)
        df = df[df["task"].astype(str).isin([str(t) for t, has in recorded.items() if has])]
    across = analysis.format_across_tasks(analysis.across_tasks(df, metric=metric))
    note = (f"\nnote: left out, no {metric} recorded: {', '.join(left_out)}" if left_out else "")
    return f"across tasks ({metric}):\n{across}{note}\n\n{per_task_table(df, metric)}"


__all__ = ["add_flags", "analyze_text", "cmd_suite", "finale", "is_suite_dir", "list_text",
           "per_task_table", "resolve", "resume"]
