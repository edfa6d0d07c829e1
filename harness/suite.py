"""Suites: many tasks x strategies x seeds from one command, into one suite directory.

One task cannot say whether an ordering of strategies belongs to the methods or to that task
(issue 22); the protocols researchers trust answer across tasks. A `SuiteSpec` is a named
list of tasks (each a complete `ExperimentSpec`: a registered experiment, a base plus field
overrides, a user's own `pkg.module:load` dataset) with the strategies and seeds they share.

`start` writes `<storage>/<suite>-<UTC timestamp>/` holding `suite.json` (the tasks' specs,
strategies, seeds, commit, status, each task's run directory) and one ordinary experiment
run directory per task, made by `runner.start` with the suite directory as its storage: every
rule of a run (the lock, completeness, interrupts, resume, the results contract) holds per
task unchanged, and `analysis.load_results(SUITE_DIR)` loads the tasks side by side with a
`task` column. Every task is preflighted before Ray starts, so a bad fifth task is one line
in a second, not an error after four tasks' hours. The tasks run one after another in the
same Ray session (each task's (strategy, seed) units side by side unless `--sequential`).
`resume` finishes exactly what is missing: each task's run is resumed, or started if it never
began. The suite directory is locked to one driver as a run directory is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from analysis.contract import TEST_ACC, TEST_LOSS
from harness import metadata, overrides, preflight, registry
from harness.errors import HarnessError, Interrupted, SpecError
from harness.experiments import ExperimentSpec
from harness.lock import RunLock
from harness.storage import Storage, normalize

FILE = "suite.json"
#: the keys a suite TOML holds at top level (every other key belongs in a [[task]] table)
TOML_KEYS = ("name", "description", "seeds", "strategies", "task")


@dataclass(frozen=True)
class SuiteSpec:
    """A named list of tasks with the strategies and seeds they share.

    Each task is a complete experiment; its own `strategies` and `seeds` are replaced by the
    suite's (`task_specs`), so every task compares the same strategies on the same seeds: the
    across-task ranks need every strategy in every (task, seed) block.
    """

    name: str
    tasks: tuple[ExperimentSpec, ...]
    strategies: tuple[str, ...]
    seeds: int = 5
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise SpecError(f"suite name={self.name!r}: must be a non-empty name usable as a directory")
        if not self.tasks:
            raise SpecError(f"suite {self.name}: name at least one task")
        names = [t.name for t in self.tasks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SpecError(f"suite {self.name}: task name(s) {', '.join(twice)} appear twice; "
                            "give each [[task]] its own name")
        if not self.strategies or len(set(self.strategies)) != len(self.strategies):
            raise SpecError(f"suite {self.name}: strategies={list(self.strategies)}: name each "
                            "strategy once, at least one")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise SpecError(f"suite {self.name}: seeds={self.seeds!r}: must be an integer >= 1")

    def task_specs(self) -> tuple[ExperimentSpec, ...]:
        """Every task as it runs: its own fields, the suite's strategies and seeds."""
        return tuple(t.replace(strategies=self.strategies, seeds=self.seeds) for t in self.tasks)

    def changed(self, sets: Mapping[str, Any] | None = None,
                strategies: Sequence[str] | None = None, seeds: int | None = None,
                smoke: bool = False) -> SuiteSpec:
        """The suite with the command line's changes: `--set` on every task (typed and
        checked as for `run`), `--strategies`, `--seeds`, then `--smoke` (every task shrunk,
        one seed unless `--seeds` says otherwise; the name gets `-smoke`, so its rows never
        pool with a real run's)."""
        if seeds is not None and seeds < 1:
            raise SpecError(f"--seeds {seeds}: must be >= 1")
        tasks = self.tasks
        if sets:
            tasks = tuple(_task_change(t, sets) for t in tasks)
        suite = replace(self, tasks=tasks, strategies=tuple(strategies or self.strategies),
                        seeds=self.seeds if seeds is None else seeds)
        if smoke:
            suite = replace(suite, name=f"{suite.name}-smoke",
                            tasks=tuple(t.smoke() for t in suite.tasks),
                            seeds=1 if seeds is None else seeds)
        return suite


def _task_change(task: ExperimentSpec, values: Mapping[str, Any]) -> ExperimentSpec:
    try:
        return overrides.apply(task, values)
    except SpecError as e:
        raise SpecError(f"task {task.name}: {e}") from None


def task(base: str, name: str | None = None, **fields: Any) -> ExperimentSpec:
    """A task: the registered experiment `base` with `fields` changed (typed and checked as a
    TOML file's are) and, with `name`, under its own name."""
    spec = overrides.apply(registry.get(base), fields)
    return spec.replace(name=name) if name else spec


# --- TOML -----------------------------------------------------------------------------------

def load_toml(path: str | Path) -> SuiteSpec:
    """The suite a TOML file declares (module doc of harness.cli: `name`, `seeds`,
    `strategies`, `[[task]]` tables each with a `base`, an optional `name` and fields);
    every problem is one SpecError naming the file, the task and the key."""
    where = f"--config {path}"
    data = overrides.read_toml(path)
    unknown = sorted(set(data) - set(TOML_KEYS))
    if unknown:
        raise SpecError(f"{where}: unknown suite key(s) {', '.join(unknown)}; a suite holds "
                        f"{', '.join(TOML_KEYS[:-1])} and [[task]] tables (experiment fields "
                        "go inside a task)")
    name = data.get("name")
    if not isinstance(name, str):
        raise SpecError(f"{where}: name = {name!r}: expected the suite's name (a string)")
    seeds = data.get("seeds", 5)
    if isinstance(seeds, bool) or not isinstance(seeds, int):
        raise SpecError(f"{where}: seeds = {seeds!r}: expected an integer")
    strategies = data.get("strategies")
    if not isinstance(strategies, list) or not all(isinstance(s, str) for s in strategies):
        raise SpecError(f"{where}: strategies = {strategies!r}: expected a list of strategy names")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{where}: description = {description!r}: expected a string")
    tables = data.get("task")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise SpecError(f"{where}: no [[task]] tables; a suite needs at least one")
    tasks = []
    for i, table in enumerate(tables, 1):
        fields = dict(table)
        base, own = fields.pop("base", None), fields.pop("name", None)
        if not isinstance(base, str):
            raise SpecError(f"{where}: task {i}: base = {base!r}: expected the name of a "
                            "registered experiment")
        if own is not None and not isinstance(own, str):
            raise SpecError(f"{where}: task {i}: name = {own!r}: expected a string")
        for key in ("strategies", "seeds"):
            if key in fields:
                raise SpecError(f"{where}: task {i}: {key} is the suite's (top level), shared "
                                "by every task")
        try:
            tasks.append(task(base, own, **fields))
        except SpecError as e:
            raise SpecError(f"{where}: task {i} ({own or base}): {e}") from None
    try:
        return SuiteSpec(name=name, tasks=tuple(tasks), strategies=tuple(strategies),
                         seeds=seeds, description=description)
    except SpecError as e:
        raise SpecError(f"{where}: {e}") from None


# --- running --------------------------------------------------------------------------------

def preflight_all(suite: SuiteSpec, trainable: str, address: str | None) -> None:
    """Every task's strategies and trial configs, checked before anything is written or Ray
    starts (`harness.preflight`, as `run` checks one experiment): the first problem is one
    line naming the task."""
    from harness import runner

    runner.load_trainable(trainable)
    for spec in suite.task_specs():
        work = runner.tasks(spec, {"strategies": list(spec.strategies), "sweep": None})
        preflight.check(spec.name, list(work.values()), on_cluster=bool(address),
                        own_trainable=trainable == runner.DEFAULT_TRAINABLE)


def suite_dir_name(suite: SuiteSpec) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    return f"{suite.name}-{stamp}"


def is_suite_dir(path: str) -> bool:
    """Whether `path` is a suite directory (it holds suite.json)."""
    try:
        return Storage(normalize(path)).exists(FILE)
    except (OSError, ValueError):
        return False


def _record(d: Storage, record: dict[str, Any]) -> None:
    d.write_text(FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")


def read(d: Storage) -> dict[str, Any]:
    try:
        record = json.loads(d.read_text(FILE))
    except (OSError, ValueError) as e:
        raise HarnessError(f"{d.root}/{FILE}: unreadable ({e})") from None
    if not isinstance(record, dict) or "tasks" not in record:
        raise HarnessError(f"{d.root}/{FILE}: not a suite record (no tasks)")
    return record


def start(suite: SuiteSpec, options: Any) -> str:
    """Run every task x strategy x seed of `suite` into a new suite directory; return it.
    `options`: the `runner.RunOptions` every task runs with (its storage is where the suite
    directory goes)."""
    from harness import runner
    from harness.session import resolve_address

    address = resolve_address(options.address)
    preflight_all(suite, options.trainable, address)
    storage = Storage(normalize(options.storage))
    storage.ensure_writable()
    d = storage.child(suite_dir_name(suite))
    d.ensure_writable()
    with RunLock(d):
        record = {
            "name": suite.name, "description": suite.description,
            "strategies": list(suite.strategies), "seeds": suite.seeds,
            "tasks": [{"name": t.name, "spec": t.to_dict()} for t in suite.task_specs()],
            "runs": {}, "trainable": options.trainable, "commit": metadata.git_commit(),
            "status": "running", "start_time": metadata.now(), "end_time": None,
        }
        _record(d, record)
        options.echo(f"suite {suite.name}: {len(suite.tasks)} tasks x {len(suite.strategies)} "
                     f"strategies x {suite.seeds} seed{'s' if suite.seeds != 1 else ''} -> {d.root}")
        _drive(d, record, suite.task_specs(), replace(options, storage=d.root), runner)
    return d.root


def resume(suite_root: str, options: Any) -> str:
    """Finish an interrupted suite: each task's run resumed where it has one, started where
    it has none; a finished task's run is left as it is."""
    from harness import runner
    from harness.session import resolve_address

    d = Storage(normalize(suite_root))
    record = read(d)
    specs = tuple(runner.spec_from_metadata({"spec": t["spec"]}) for t in record["tasks"])
    trainable = (options.trainable if options.trainable != runner.DEFAULT_TRAINABLE
                 else record.get("trainable", runner.DEFAULT_TRAINABLE))
    options = replace(options, trainable=trainable, storage=d.root)
    suite = SuiteSpec(name=record["name"], tasks=specs, strategies=tuple(record["strategies"]),
                      seeds=int(record["seeds"]))
    preflight_all(suite, trainable, resolve_address(options.address))
    with RunLock(d):
        record = read(d)
        left = [s.name for s in specs if not _finished(d, record, s.name)]
        options.echo(f"resuming suite {d.root}: {len(left)} of {len(specs)} tasks left")
        if left:
            record["status"], record["end_time"] = "running", None
            _record(d, record)
            _drive(d, record, tuple(s for s in specs if s.name in left), options, runner)
    return d.root


def task_runs(d: Storage) -> dict[str, str]:
    """{task name: its run directory's name} of the run directories inside the suite
    directory, read from each one's metadata.json (a run interrupted before the suite could
    record it is found too)."""
    out: dict[str, str] = {}
    for sub in sorted(d.list_dirs()):
        run = d.child(sub)
        if not run.exists(metadata.FILE):
            continue
        try:
            meta = json.loads(run.read_text(metadata.FILE))
        except (OSError, ValueError):
            continue
        out.setdefault(str(meta.get("spec", {}).get("name")), sub)
    return out


def _finished(d: Storage, record: dict[str, Any], task_name: str) -> bool:
    sub = task_runs(d).get(task_name)
    if sub is None:
        return False
    meta = json.loads(d.child(sub).read_text(metadata.FILE))
    return bool(meta.get("status") == "finished"
                and all(v == "finished" for v in meta.get("completed", {}).values())
                and len(meta.get("completed", {})) == len(meta["strategies"]) * len(meta["seeds"]))


def _drive(d: Storage, record: dict[str, Any], specs: Sequence[ExperimentSpec], options: Any,
           runner: Any) -> None:
    """Each task in turn: resume its run if it has one, else start it. An interrupt stops
    the suite (recorded, exit 130); a task that ends short or with failed trials is recorded
    and the others still run (exit 1 at the end), since the next task does not depend on it."""
    failed: list[tuple[str, HarnessError]] = []
    resume_hint = f"crossreg resume {d.root}"
    try:
        for spec in specs:
            existing = task_runs(d).get(spec.name)
            options.echo(f"\n== task {spec.name} ({specs.index(spec) + 1} of {len(specs)})")
            try:
                if existing is not None:
                    run_dir = runner.resume(d.child(existing).root, options)
                else:
                    run_dir = runner.start(spec, options)
            except Interrupted as e:
                if e.exit_code == 130:
                    raise
                failed.append((spec.name, e))
                continue
            except HarnessError as e:
                if e.exit_code == 2:
                    raise
                failed.append((spec.name, e))
                continue
            record["runs"][spec.name] = run_dir.rstrip("/").rsplit("/", 1)[-1]
            _record(d, record)
    except (Interrupted, KeyboardInterrupt):
        _stop(d, record, "interrupted")
        raise Interrupted(f"suite interrupted; continue it with: {resume_hint}") from None
    except BaseException:
        _stop(d, record, "interrupted")
        raise
    record["runs"].update({k: v for k, v in task_runs(d).items()
                           if k in {t["name"] for t in record["tasks"]}})
    if failed:
        _stop(d, record, "incomplete")
        first = failed[0][1]
        raise type(first)(f"{len(failed)} task(s) did not finish cleanly "
                          f"({', '.join(n for n, _ in failed)}; first: {first}); "
                          f"continue with: {resume_hint}")
    _stop(d, record, "finished")


def _stop(d: Storage, record: dict[str, Any], status: str) -> None:
    record["status"], record["end_time"] = status, metadata.now()
    try:
        _record(d, record)
    except OSError:
        pass


# --- what the CLI prints ----------------------------------------------------------------------

def describe(suites: Mapping[str, SuiteSpec]) -> list[str]:
    """`crossreg list`'s suite lines: name, tasks, strategies, seeds."""
    import textwrap

    out = ["suites (crossreg suite NAME; --plan: its cost before it runs):"]
    width = max((len(n) for n in suites), default=0)
    pad = " " * (width + 4)
    for name, s in suites.items():  # 100 columns, as the rest of `crossreg list`
        out += textwrap.wrap(f"{len(s.tasks)} tasks x {len(s.strategies)} strategies x "
                             f"{s.seeds} seeds: {', '.join(t.name for t in s.tasks)}", 100,
                             initial_indent=f"  {name:<{width}}  ", subsequent_indent=pad)
        if s.description:
            out += textwrap.wrap(s.description, 100, initial_indent=pad, subsequent_indent=pad)
    return out


def analysis_metric(df: Any) -> str:
    """The metric the across-task table ranks on: test accuracy when every task has one,
    else the test loss (a suite with a regression task: every task has a test loss, and
    lower is better for both)."""
    if TEST_ACC in df and df.groupby("task")[TEST_ACC].apply(lambda s: s.notna().any()).all():
        return TEST_ACC
    return TEST_LOSS


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


def analyze_text(path: str) -> str:
    """`crossreg analyze SUITE_DIR`: the across-task table, then the per-task table."""
    import analysis

    df = analysis.load_results(path)
    metric = analysis_metric(df)
    across = analysis.format_across_tasks(analysis.across_tasks(df, metric=metric))
    return f"across tasks ({metric}):\n{across}\n\n{per_task_table(df, metric)}"


def fields_of(spec: ExperimentSpec) -> dict[str, Any]:
    """A task's fields, flat (for plans and listings)."""
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}


Echo = Callable[[str], None]

__all__ = ["FILE", "SuiteSpec", "analyze_text", "describe", "is_suite_dir", "load_toml",
           "per_task_table", "preflight_all", "read", "resume", "start", "task", "task_runs"]
