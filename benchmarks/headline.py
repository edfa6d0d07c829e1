"""The fair headline (issue 19) from scratch, at one commit, in one command.

    python benchmarks/headline.py [--seeds 10] [--storage results/headline] [--smoke]
    python benchmarks/headline.py --resume RUN_DIR    # after an interrupt, at the same commit
    python benchmarks/headline.py --report RUN_DIR    # the tables and the report page only

Runs mnist1d-noise under its registered spec and the equal-rows protocol (every final model
trains theta on the same training split) with every method of the headline in ONE run
directory, through the harness's API (`harness.run.runner.start`):

- cross_reg (the spec's r=1, K=4) and its cheapest variant, `cross_reg.r10K1`;
- fixed at rho = 0 (unregularised) and the control `fixed.rho0.3`: fixed at cross-reg's
  starting rho (did learning rho beat training at its start?);
- deep_ensemble, pbt, grid_cv, asha, random, hyperband, t1t2, each at the spec's budget.

The variants are recorded in metadata.json as a sweep records them (`sweep`: each variant's
base strategy and the spec fields it changes; `sweep_reference`: cross_reg), so the analysis
reads the control as what it is. Then prints the comparison table (priced in FLOPs) and the
paired tests of cross_reg against each method, and writes the HTML report beside the run.

One commit, one result: it refuses to run on a git tree with uncommitted or untracked files
(`git status --porcelain`), so the commit metadata.json records is the code that ran. The
storage default, results/, is git-ignored. `--smoke` (a seconds-long check of the whole path:
3 epochs, tiny searches, 1 seed) may run on a dirty tree and says so.

About ten hours on two cores, so it crosses sessions: Ctrl-C or SIGTERM stops it with exit 130
and the command that continues it, `--resume RUN_DIR`, which finishes exactly what is missing
and refuses a checkout other than the commit the run started at (one commit, one result).
`--report RUN_DIR` prints the tables of a run and writes its report page; it trains nothing.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

EXPERIMENT = "mnist1d-noise"
#: every method of the headline at the spec's own budget
STRATEGIES = ("cross_reg", "fixed", "deep_ensemble", "pbt", "grid_cv", "asha", "random",
              "hyperband", "t1t2")
#: cross-reg's cheapest (r, K): a rho step every 10 theta steps on one noise sample
CHEAPEST = {"r": 10, "K": 1}
DEFAULT_SEEDS = 10
DEFAULT_STORAGE = "results/headline"
REPO = Path(__file__).resolve().parent.parent


class DirtyTree(RuntimeError):
    """The checkout has changes no commit holds: a result of it could not be reproduced."""


def check_clean(repo: Path = REPO) -> str:
    """The commit of `repo`'s HEAD if its tree is clean (tracked and untracked files; ignored
    ones do not count); DirtyTree naming the first changes otherwise."""
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    if status:
        shown = "; ".join(line.strip() for line in status[:5])
        more = f" (and {len(status) - 5} more)" if len(status) > 5 else ""
        raise DirtyTree(f"{repo} has uncommitted changes: {shown}{more}. Commit them (one "
                        "commit, one result) or run --smoke")
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def plan(seeds: int = DEFAULT_SEEDS, smoke: bool = False) -> tuple[Any, dict[str, dict[str, Any]]]:
    """(the spec, the variants) of the headline run: every strategy of `STRATEGIES` at its
    own budget, cross-reg's cheapest variant, and the fixed-at-rho_init control."""
    from harness.experiments import registry
    from harness.strategies.common import knob_label

    spec = registry.get(EXPERIMENT).replace(strategies=STRATEGIES, seeds=seeds)
    if spec.protocol != "equal_rows":  # the fair comparison: the same rows for every model
        spec = spec.replace(protocol="equal_rows")
    if smoke:
        spec = spec.smoke().replace(seeds=seeds)
    variants: dict[str, dict[str, Any]] = {s: {"strategy": s, "budget": {}} for s in STRATEGIES}
    cheapest = f"cross_reg.r{CHEAPEST['r']}K{CHEAPEST['K']}"
    variants[cheapest] = {"strategy": "cross_reg", "budget": dict(CHEAPEST)}
    variants[f"fixed.{knob_label('rho', spec.rho_init)}"] = {
        "strategy": "fixed", "budget": {"fixed_rho": spec.rho_init}}
    return spec, variants


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=None,
                   help=f"seeds 0..N-1 (default {DEFAULT_SEEDS}; 1 with --smoke)")
    p.add_argument("--storage", default=DEFAULT_STORAGE,
                   help=f"where the run directory goes (default {DEFAULT_STORAGE}, git-ignored)")
    p.add_argument("--smoke", action="store_true",
                   help="a seconds-long check of the whole path (may run on a dirty tree)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", metavar="RUN_DIR",
                       help="finish an interrupted headline run (at the commit it started at)")
    again.add_argument("--report", metavar="RUN_DIR",
                       help="print a finished run's tables and write its report; trains nothing")
    args = p.parse_args(argv)
    if args.seeds is None:
        args.seeds = 1 if args.smoke else DEFAULT_SEEDS
    if args.seeds < 1:
        p.error(f"--seeds {args.seeds}: must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:  # analysis only: any checkout may read a run
        report(args.report)
        return 0
    spec, variants = plan(args.seeds, args.smoke)
    command = "python benchmarks/headline.py " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        commit = check_clean()
    except DirtyTree as e:
        if not (args.smoke or args.dry_run):
            print(f"headline: {e}", file=sys.stderr)
            return 2
        commit = "a dirty tree: a check, not a result"
    print(f"<!-- {time.strftime('%Y-%m-%d')}, {platform.machine()} {platform.node()}, "
          f"commit {commit}, {command} -->")
    if not args.resume:
        print(f"# {spec.name}: {len(variants)} entries x {spec.seeds} seeds, protocol "
              f"{spec.protocol}: {', '.join(variants)}", flush=True)
    if args.dry_run:
        return 0

    from harness.errors import HarnessError, Interrupted
    from harness.run import runner
    from harness.run.interrupts import noted_run

    options = runner.RunOptions(storage=args.storage, concurrent=True,
                                echo=lambda line: print(line, flush=True))
    try:
        if args.resume:
            check_same_commit(args.resume, commit)
            run = runner.resume(args.resume, options)
        else:
            run = runner.start(spec, options, variants=variants)
    except HarnessError as e:  # an interrupt (130), a failed trial, bad input: one line
        print(f"headline: {e}", file=sys.stderr)
        noted = noted_run()
        if isinstance(e, Interrupted) and noted:
            print(f"headline: or, with its tables: python benchmarks/headline.py --resume "
                  f"{noted}", file=sys.stderr)
        return e.exit_code
    report(run)
    return 0


def check_same_commit(run: str, commit: str) -> None:
    """Refuse to resume `run` from another commit than the one it started at (its
    metadata.json's `git_commit`): the rows of two commits would pool in one result."""
    from harness.errors import HarnessError
    from harness.run import metadata
    from harness.run.storage import Storage, normalize

    started = metadata.read(Storage(normalize(run))).get("git_commit")
    if started != commit:
        raise HarnessError(f"{run} started at commit {started}, this checkout is {commit}: "
                           f"resume it from a checkout of {started} (git worktree add DIR "
                           f"{started}), so that one commit makes the result")


def readme_table(summary: Any) -> str:
    """The README's headline table from `analysis.summarize(df, cost="flops")`: the columns of
    the comparison table a reader needs (seeds, training rows, test accuracy and ECE as mean ±
    95% half-width, FLOPs per seed, the multiple of cross-reg's), cell for cell as
    `crossreg analyze` shows them; cross_reg first, then by FLOPs. Printed by `report`, so the
    README's figures are the run's, not retyped."""
    from analysis.summary import display_table

    shown = display_table(summary).reset_index(drop=True)
    columns = ["strategy", "seeds", "n train", "test acc %", "ECE %", "FLOPs",
               *[c for c in shown.columns if c.startswith("x ")]]
    first = (summary["strategy"].astype(str) != "cross_reg").to_numpy()
    order = sorted(range(len(shown)), key=lambda i: (first[i], summary["flops_total"].iloc[i]))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(shown.at[i, c]) for c in columns) + " |" for i in order]
    return "\n".join(lines)


def method_price(df: Any) -> Any:
    """`analysis.summarize(df, cost="flops")` of each method run once without a stop (the
    rows interruptions made it re-run left out, `report_headline.without_reruns`); the full
    table keeps every FLOP paid."""
    import analysis

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from report_headline import without_reruns

    return analysis.summarize(without_reruns(df), cost="flops")


def interruption_cost(df: Any) -> str:
    """One line: the re-run epochs and FLOPs per strategy the interruptions cost."""
    import pandas as pd

    from analysis.summary.costs import row_cost

    if "rerun" not in df or not df["rerun"].any():
        return "re-run by interruptions: nothing"
    rerun = df[df["rerun"].to_numpy(dtype=bool)]
    flops = pd.Series(row_cost(rerun, "flops"), index=rerun.index)
    per = flops.groupby(rerun["strategy"].astype(str), sort=True).agg(["size", "sum"])
    parts = [f"{name} {int(n)} epochs, {total:.3g} FLOPs" for name, n, total in per.itertuples()]
    return "re-run by interruptions (all seeds, in the full table's costs only): " + "; ".join(parts)


def report(run: str) -> None:
    """The table in FLOPs, the README's table, the paired tests against cross_reg, and the
    HTML report."""
    import analysis
    from analysis.report import write_report
    from analysis.summary import format_table

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from report_headline import _tests  # the headline's paired tests, one implementation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = analysis.load_results(run)
        summary = analysis.summarize(df, cost="flops")
        print("```\n" + format_table(summary) + "\n```\n")
        print("The README's table (each method's price: the epochs an interruption made a "
              "unit re-run are left out):\n\n" + readme_table(method_price(df)) + "\n")
        print(interruption_cost(df) + "\n")
        print("Paired tests over seeds, cross_reg against each (test accuracy):\n")
        print(_tests(df, "test_acc") + "\n")
        print("The same on test ECE (lower is better):\n")
        print(_tests(df, "test_ece") + "\n")
        out = str(Path(run) / "report.html")
        write_report([run], out)
    print(f"results: {run}\nreport: {out}")


if __name__ == "__main__":
    sys.exit(main())
