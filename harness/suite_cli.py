"""`crossreg suite` and the suite halves of `resume`, `list` and `analyze`.

Kept apart from harness.cli so that the suite's flags and printing live beside the suite's
own code (harness.suite) and harness.cli only dispatches to them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from harness import overrides
from harness.errors import HarnessError
from harness.suite import analyze_text, is_suite_dir


def add_flags(u: argparse.ArgumentParser) -> None:
    """`suite`'s flags: which suite, then `run`'s (they mean the same, applied to every task)."""
    from harness import suites

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
    from harness import suite, suites

    if args.config and args.name:
        raise HarnessError("suite: give a registered NAME or --config FILE, not both")
    if not args.config and not args.name:
        raise HarnessError(f"suite: name a registered suite ({', '.join(suites.names())}) "
                           "or give --config suite.toml")
    spec = suite.load_toml(args.config) if args.config else suites.get(args.name)
    sets = overrides.parse_sets(args.sets)
    if args.gpus_per_trial is not None:
        sets["gpus_per_trial"] = args.gpus_per_trial
    if args.cpus_per_trial is not None:
        sets["cpus_per_trial"] = args.cpus_per_trial
    return spec.changed(sets=sets, strategies=args.strategies, seeds=args.seeds, smoke=args.smoke)


def cmd_suite(args: argparse.Namespace, run_options: Callable[..., Any]) -> int:
    from harness import runner, suite

    spec = resolve(args)
    if args.plan:
        from harness import suite_plan

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
    from harness import suite

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
    from harness import suite, suites

    return "\n".join(suite.describe(suites.SUITES))


__all__ = ["add_flags", "analyze_text", "cmd_suite", "finale", "is_suite_dir", "list_text",
           "resolve", "resume"]
