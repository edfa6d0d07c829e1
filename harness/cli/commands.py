"""`crossreg`: run, resume, list and analyse experiments.

    crossreg run [EXPERIMENT] [--strategies S ...] [--seeds N] [--storage DIR] [--address ADDR]
                 [--gpus-per-trial F] [--cpus-per-trial F] [--smoke] [--sequential]
                 [--config FILE.toml] [--set KEY=VALUE ...]
    crossreg sweep [EXPERIMENT] [--budget KNOB=V1,V2 ...] [same options as run]
    crossreg suite [NAME] [--config SUITE.toml] [--plan [--device-flops F]] [options of run]
    crossreg resume DIR|SUITE_DIR
    crossreg list [--long]
    crossreg keys [EXPERIMENT]
    crossreg analyze DIR [--csv F] [--parquet F] [--cost flops|fwd|device_seconds] [--wide]
    crossreg report DIR [--out DIR/report.html]
    crossreg linear-demo

Bad input (unknown experiment or strategy, malformed TOML, --seeds 0, an unwritable storage
path, an unreachable --address, a run directory another driver holds) prints one line on
stderr and exits with code 2, without a traceback; an interrupted run exits 130; trials
that failed past their retries, or a run that ended short without a signal, exit 1; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from analysis import contract
from harness.cli import help as cli_help
from harness.cli import suite_command as suite_cli
from harness.errors import HarnessError
from harness.experiments import overrides, registry

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141
#: the cost axis of the CLI's tables: the contract's price (FLOPs: independent of the machine
#: and its load, and counting what a forward pass hides, a rho step's backward); runs without
#: FLOPs (older rows, the synthetic trainable) show "-" there
DEFAULT_COST = contract.DEFAULT_COST


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise (so main() prints one line and returns 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise HarnessError(f"{self.prog}: {message}")


class _Formatter(argparse.HelpFormatter):
    """argparse's wrapping for prose, but text laid out by hand (the exit-code table: it has
    line breaks) stays as written; RawDescriptionHelpFormatter would stop wrapping the
    one-line descriptions too."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="crossreg", description=(
        "Cross-regularization vs PBT, grid CV and ASHA on Ray Tune, with every forward pass "
        "counted. `crossreg run` runs the quick experiment."))
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser("run", help="run an experiment (default: quick)",
                       description="Run every strategy x seed of an experiment; results go to "
                                   "STORAGE/<experiment>-<timestamp>/.",
                       formatter_class=_Formatter, epilog=cli_help.epilog(keys=True))
    _experiment_flags(r)
    _wide_flag(r)

    w = sub.add_parser("sweep", help="run every strategy at several budgets (quality-vs-cost curves)",
                       description="Run every strategy of an experiment at each budget point its "
                                   "file declares (PBT population 2/4/8/16, ASHA samples 4/8/16/32, "
                                   "grid sizes 3/5/9, cross-reg (r, K) from (1, 4) to (40, 4), ...) "
                                   "on the same seeds and splits, into one run directory.",
                       formatter_class=_Formatter, epilog=cli_help.epilog(keys=True))
    _experiment_flags(w)
    _wide_flag(w)
    w.add_argument("--budget", dest="budgets", action="append", default=[],
                   metavar="KNOB=V1,V2", help="the points of one budget knob (repeatable), e.g. "
                                              "pbt_population=2,4 or r=1,10")

    u = sub.add_parser("suite", help="run every task x strategy x seed of a suite",
                       description="Run a suite (a registered one, or --config suite.toml): "
                                   "every task x strategy x seed into STORAGE/<suite>-<timestamp>/, "
                                   "one run directory per task; --plan prints its cost instead.",
                       formatter_class=_Formatter, epilog=cli_help.epilog(keys=True))
    suite_cli.add_flags(u)
    _schedule_flags(u)
    _log_flag(u)
    _output_flags(u)

    s = sub.add_parser("resume", help="continue an interrupted experiment run or suite",
                       description="Continue DIR: restore unfinished strategies, run missing ones.",
                       formatter_class=_Formatter, epilog=cli_help.epilog(keys=False))
    s.add_argument("dir", help="the experiment run directory (holds metadata.json) or a "
                               "suite directory (holds suite.json)")
    s.add_argument("--address", help="Ray cluster address; default: $RAY_ADDRESS, else a local Ray")
    _schedule_flags(s)
    _output_flags(s)
    _wide_flag(s)

    ls = sub.add_parser("list", help="list the registered experiments and strategies",
                        description="List the registered experiments (dataset, model, family, "
                                    "seeds, epochs, strategies) and strategies.")
    ls.add_argument("--long", "-l", action="store_true", help="each experiment's description too")

    k = sub.add_parser("keys", help="every key --set and TOML accept, with its type and default",
                       description="List every experiment key that `--set KEY=VALUE` and a "
                                   "--config TOML file accept, grouped (the experiment's own, "
                                   "the trial's), with its type and default.")
    k.add_argument("experiment", nargs="?", default=None,
                   help="show this registered experiment's values instead of the defaults")

    a = sub.add_parser("analyze", help="print the comparison table of a run",
                       description="Load DIR's results and print one row per strategy.")
    a.add_argument("dir", help="experiment run directory (or a directory of runs)")
    a.add_argument("--csv", metavar="F", help="also save the table as CSV")
    a.add_argument("--parquet", metavar="F", help="also save the table as Parquet")
    a.add_argument("--cost", choices=("fwd", "flops", contract.DEVICE_SECONDS), default=DEFAULT_COST,
                   help="the cost axis of relative costs and cost-to-match (default: FLOPs; "
                        "fwd: sample-forward passes)")
    a.add_argument("--metric", metavar="M",
                   help="a suite directory: rank on M (test_acc, test_loss, test_ece, ...) "
                        "over the tasks that record it; default: test_acc where every task "
                        "has it, else test_loss")
    _wide_flag(a)

    h = sub.add_parser("report", help="write an HTML report of one or more runs, or of a suite",
                       description="Write an HTML report with tables and plots: of experiment "
                                   "runs, or of one suite directory (across-task table, "
                                   "critical-difference diagram, a panel per task, each task's "
                                   "own report linked).")
    h.add_argument("dir", nargs="+", help="experiment run directories, or one suite directory")
    h.add_argument("--out", help="the HTML file to write (default DIR/report.html for one "
                                 "run or suite)")

    sub.add_parser("linear-demo", help="cross-reg ridge, lasso and spline beside their classic fits",
                   description="Fit CrossRegRidge, CrossRegLasso and CrossRegSpline on their reference "
                               "problems and print them beside sklearn's hold-out ridge path, "
                               "LassoCV and scipy's GCV smoothing spline (no Ray; ~10 s).")
    return p


def _experiment_flags(r: argparse.ArgumentParser) -> None:
    """What `run` and `sweep` share: which experiment, where, how."""
    r.add_argument("experiment", nargs="?", default=None,
                   help=f"a registered experiment ({', '.join(registry.names())}); default quick")
    r.add_argument("--strategies", nargs="+", metavar="S",
                   help="strategies to run (default: the experiment's; `crossreg list` names "
                        "them; 'pkg.module:ATTR' names your own)")
    r.add_argument("--seeds", type=int, help="number of seeds (0..N-1); default from the spec")
    r.add_argument("--storage", default="results",
                   help="directory or URI (s3://, gs://, NFS path) for results; default ./results")
    r.add_argument("--address", help="Ray cluster address (auto, host:port, ray://host:port); "
                                     "default: $RAY_ADDRESS, else start a local Ray")
    r.add_argument("--gpus-per-trial", type=float, metavar="F",
                   help="GPUs per trial; fractions pack trials (0.25 = four per GPU)")
    r.add_argument("--cpus-per-trial", type=float, metavar="F", help="CPUs per trial")
    r.add_argument("--smoke", action="store_true",
                   help="shrink epochs, searches and seeds for a fast end-to-end check")
    _schedule_flags(r)
    _log_flag(r)
    r.add_argument("--config", metavar="FILE.toml", help="TOML file defining or overriding the experiment")
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override one experiment field (repeatable); `crossreg keys` lists "
                        "every key with its type and default")
    r.add_argument("--trainable", default=None, metavar="MODULE:ATTR",
                   help="Tune function trainable to run (default trainables.tune:train_fn; "
                        "harness.testing:synthetic_train_fn exercises the machinery in seconds)")
    _output_flags(r)


def _schedule_flags(p: argparse.ArgumentParser) -> None:
    """Side by side (the default) or one after another. `--concurrent`, once the opt-in to
    side by side, is still accepted and changes nothing: scripts, cluster recipes and
    benchmark notes that pass it keep working."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sequential", action="store_true",
                   help="run each (strategy, seed) alone, one after another, for clean "
                        "per-strategy wall times (default: side by side in one Ray session, "
                        "as long as CPUs or GPU shares are free, largest first)")
    g.add_argument("--concurrent", action="store_true", help=argparse.SUPPRESS)


def _wide_flag(p: argparse.ArgumentParser) -> None:
    """The comparison table's width: the essential columns fit 100 terminal columns."""
    p.add_argument("--wide", action="store_true",
                   help="every column of the comparison table (IQM, NLL, rank, all cost axes, "
                        "wall and trial seconds); default: the essential ones, 100 columns wide")


def _log_flag(p: argparse.ArgumentParser) -> None:
    """Where else the rows go: Ray Tune's own logger callbacks (harness.run.loggers)."""
    from harness.run import loggers

    p.add_argument("--log", dest="loggers", action="append", default=[], metavar="TOOL",
                   choices=tuple(loggers.PACKAGES),
                   help="also log every trial's rows to tensorboard (event files in the run "
                        "directory), mlflow ($MLFLOW_TRACKING_URI, else ./mlruns; one MLflow "
                        "run per trial) or wandb (offline unless $WANDB_API_KEY); repeatable")


def _output_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", action="store_true",
                   help="no progress lines: errors and the final table only")
    g.add_argument("--verbose", action="store_true",
                   help="Ray's own output too (Tune's status tables, worker logs)")


def _run_options(args: argparse.Namespace, **fields: Any) -> Any:
    from harness.run import runner

    echo = (lambda line: None) if args.quiet else _print_flush
    fields.setdefault("loggers", tuple(getattr(args, "loggers", ())))
    return runner.RunOptions(verbose=1 if args.verbose else 0, echo=echo, **fields)


def _print_flush(line: str) -> None:
    print(line, flush=True)


def resolve_spec(args: argparse.Namespace) -> Any:
    """The experiment to run: registry entry, then TOML file, then --set, then flags."""
    if args.config:
        spec = overrides.load_toml(args.config, default_base=args.experiment)
    else:
        spec = registry.get(args.experiment or registry.DEFAULT_EXPERIMENT)
    changes = overrides.parse_sets(args.sets)
    if args.gpus_per_trial is not None:
        changes["gpus_per_trial"] = args.gpus_per_trial
    if args.cpus_per_trial is not None:
        changes["cpus_per_trial"] = args.cpus_per_trial
    if args.strategies:
        changes["strategies"] = tuple(args.strategies)
    if args.seeds is not None:
        if args.seeds < 1:
            raise HarnessError(f"--seeds {args.seeds}: must be >= 1")
        changes["seeds"] = args.seeds
    spec = overrides.apply(spec, changes)
    if args.smoke:
        spec = spec.smoke()
        if args.seeds is not None:
            spec = spec.replace(seeds=args.seeds)
    return spec


def cmd_run(args: argparse.Namespace) -> int:
    from harness.run import runner

    spec = resolve_spec(args)
    _finale(runner.start(spec, _start_options(args)), args.wide)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.experiments import sweep
    from harness.run import runner

    spec = resolve_spec(args)
    budgets = sweep.parse_budgets(args.budgets)
    if args.smoke:  # two points per knob that this experiment sweeps, unless given
        swept = sweep.swept_knobs(spec)
        budgets = {**{k: v for k, v in sweep.SMOKE_BUDGETS.items() if k in swept}, **budgets}
    _finale(runner.start(spec, _start_options(args), budgets=budgets), args.wide)
    return 0


def _start_options(args: argparse.Namespace) -> Any:
    from harness.run import runner

    return _run_options(args, storage=args.storage, address=args.address,
                        concurrent=not args.sequential,
                        trainable=args.trainable or runner.DEFAULT_TRAINABLE)


def cmd_resume(args: argparse.Namespace) -> int:
    from harness.run import runner

    options = _run_options(args, address=args.address, concurrent=not args.sequential)
    if suite_cli.is_suite_dir(args.dir):
        suite_cli.finale(suite_cli.resume(args.dir, options))
        return 0
    _finale(runner.resume(args.dir, options), args.wide)
    return 0


def _finale(run_dir: str, wide: bool = False) -> None:
    """The comparison table, then what to do next."""
    print(f"\nresults: {run_dir}")
    print(_comparison_table(run_dir, wide=wide)[1])
    print(f"\nnext: crossreg report {run_dir}    (writes {run_dir}/report.html)")
    print(f"      crossreg analyze {run_dir} --csv table.csv")


def cmd_list(args: argparse.Namespace) -> int:
    print(cli_help.list_text(long=args.long))
    print(suite_cli.list_text())
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    print(cli_help.keys_text(args.experiment))
    return 0


def _comparison_table(path: str, cost: str = DEFAULT_COST, wide: bool = False) -> tuple[Any, str]:
    """The summary and its text: a sweep's curves and cost-to-match tables, else one row per
    strategy (`wide`: every column; by default the essential ones, 100 columns wide)."""
    import analysis
    from analysis.summary import format_sweep, format_table

    df = analysis.load_results(path)
    summary = analysis.summarize(df, cost=cost)
    if any("sweep" in (meta or {}) for meta in (df.attrs.get("metadata") or {}).values()):
        return summary, format_sweep(df, cost=cost)
    return summary, format_table(summary, wide=wide)


def _check_results_path(path: str) -> None:
    """A local path must be a directory; URIs (s3://, gs://, file://) go to pyarrow as they are."""
    import os

    if "://" not in path and not os.path.isdir(path):
        raise HarnessError(f"{path}: no such directory")


def cmd_analyze(args: argparse.Namespace) -> int:
    _check_results_path(args.dir)
    if suite_cli.is_suite_dir(args.dir):
        with _user_io_errors():
            print(suite_cli.analyze_text(args.dir, args.metric))
        return 0
    if args.metric is not None:
        raise HarnessError(f"--metric ranks the tasks of a suite directory; {args.dir} is a run "
                           "(its table shows every metric)")
    with _user_io_errors():
        summary, table = _comparison_table(args.dir, args.cost, wide=args.wide)
    print(table)
    with _user_io_errors():
        if args.csv:
            summary.to_csv(args.csv, index=False)
        if args.parquet:
            summary.to_parquet(args.parquet, index=False)
    return 0


@contextlib.contextmanager
def _user_io_errors() -> Iterator[None]:
    """A path or URI the user gave that cannot be read or written is bad input (one line, exit
    2), not a bug: missing files, unknown URI schemes, unwritable output folders."""
    try:
        yield
    except (OSError, ValueError) as e:
        raise HarnessError(f"{type(e).__name__}: {e}") from e


def cmd_report(args: argparse.Namespace) -> int:
    import os

    from analysis.report import write_report

    for d in args.dir:
        _check_results_path(d)
    suites = [d for d in args.dir if suite_cli.is_suite_dir(d)]
    if suites and len(args.dir) > 1:
        raise HarnessError(f"report of a suite directory ({suites[0]}): give it alone")
    out = args.out
    if out is None:
        if len(args.dir) > 1:
            raise HarnessError("report of several runs: name the file with --out")
        out = os.path.join(args.dir[0], "report.html")
    with _user_io_errors():
        if suites:  # one page across the tasks, each task's own report beside its run
            from analysis.suite_report import write_suite_report

            write_suite_report(suites[0], out)
        else:
            write_report(args.dir, out)
    print(f"report: {out}")
    return 0


def cmd_linear_demo(args: argparse.Namespace) -> int:
    from trainables.linear_demo import demo

    print(demo())
    return 0


def cmd_suite(args: argparse.Namespace) -> int:
    return suite_cli.cmd_suite(args, _run_options)


COMMANDS = {"run": cmd_run, "sweep": cmd_sweep, "suite": cmd_suite, "resume": cmd_resume,
            "list": cmd_list, "keys": cmd_keys,
            "analyze": cmd_analyze,
            "report": cmd_report, "linear-demo": cmd_linear_demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `crossreg` console script; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
        return code
    except BrokenPipeError:
        # `crossreg list | head -1`: the reader is gone. Point stdout at /dev/null so the
        # interpreter's own flush at exit does not fail again, and exit as a command killed
        # by SIGPIPE would (128 + 13), with no traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except HarnessError as e:  # Interrupted -> 130, EndedShort, TrialsFailed -> 1, bad input -> 2
        print(f"crossreg: {e}", file=sys.stderr)
        return e.exit_code
    except _user_errors() as e:
        print(f"crossreg: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("crossreg: interrupted", file=sys.stderr)
        return 130


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors of other packages that mean bad input, not a bug: a trial config the
    trainables refuse, data they cannot load."""
    from trainables.config import ConfigError
    from trainables.data import DataError

    return (ConfigError, DataError)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
