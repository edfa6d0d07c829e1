"""Running an experiment: every (strategy, seed) as one Tune experiment, recorded, resumable.

One invocation of `run` creates one experiment run directory under the storage path,
`<storage>/<experiment>-<UTC timestamp>/`, holding `metadata.json` and one Tune experiment
per (strategy, seed) named `<strategy>-seed<k>` (docs/contract.md). As `crossreg run` does
by default (`RunOptions.concurrent`; `--sequential` turns it off), the (strategy, seed) units
run side by side as Ray tasks that each drive one Tuner, so that every search and single run
shares the cluster's resources in one Ray session and no core idles while a single-run
strategy holds another; they are launched largest first (expected trial-epochs) so that the
run does not end on one long unit started last. `concurrent=False` runs them one after
another in this driver, each with the whole machine (clean per-strategy wall times). A run
with one unit left runs it in this driver either way: nothing could go beside it, and a
Tuner fitted here stops gracefully on a signal. Side by side or not, every trial is the same
trial (its seed, splits and config come from the spec, never from the schedule), so metrics
and cost columns do not depend on it.

Trust comes first. Before Ray starts, the run is checked (harness.run.preflight) and the run
directory is locked to this driver (harness.run.lock). A (strategy, seed) is recorded finished
only when its rows show every expected trial ended (harness.run.completeness), never on Ray's
word. Ctrl-C or SIGTERM (harness.run.interrupts) lets Tune save its state, records the run
`interrupted`, launches nothing more and exits 130. `resume` continues each unfinished Tune
experiment with `Tuner.restore` from wherever the directory is now, restarts only what Ray
cannot restore (synchronous PBT), and counts only the time a driver ran.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from analysis.contract import RESUMED_INEXACT_KEY, TEST_ACC, TEST_LOSS
from harness.errors import EndedShort, HarnessError, Interrupted, SpecError, TrialsFailed
from harness.experiments import ExperimentSpec, overrides, sweep
from harness.run import loggers, metadata, preflight, staging
from harness.run.completeness import FINISHED, INCOMPLETE, Completion, judge
from harness.run.console import Progress
from harness.run.heartbeat import DEFAULT_INTERVAL_S, Heartbeat, trial_epochs
from harness.run.interrupts import StopSignals, note_run
from harness.run.lock import RunLock
from harness.run.recording import finish, recorded, resumable
from harness.run.results_io import (
    cut_partial_lines,
    dedupe_results,
    final_row,
    keep_earlier_attempt,
    recover_checkpointed_rows,
    rerun_rows,
    retire_orphans,
    scheduler_stopped,
    strategy_rows,
    total_forward,
)
from harness.run.saved_state import has_state
from harness.run.session import address_source, check_resources, connect, probe, resolve_address
from harness.run.storage import Storage, normalize
from harness.strategies import Strategy, StrategyContext, experiment_name
from trainables.config import ConfigError, without_retired

DEFAULT_TRAINABLE = "trainables.tune:train_fn"
DEFAULT_STORAGE = "results"
#: what a resume says of a (strategy, seed) whose strategy does not declare an exact resume
INEXACT_NOTE = ("its decisions may differ from an uninterrupted run's (the strategy does not "
                "declare exact_resume=True)")


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what): storage, cluster, concurrency, trainable, verbosity.

    `concurrent` defaults to False here, unlike the CLI (side by side unless `--sequential`):
    a caller of the Python API that patches this process (tests replacing a Tuner's run
    config, benchmarks timing one strategy alone) needs its Tuners fitted in this process;
    benchmarks and tests that want the CLI's behaviour pass `concurrent=True`."""

    storage: str = DEFAULT_STORAGE
    address: str | None = None
    concurrent: bool = False  # side by side in one Ray session (the CLI's default)
    trainable: str = DEFAULT_TRAINABLE  # "module:attr" of a Tune function trainable
    verbose: int = 0  # Ray's own output: 0 off (the harness's progress lines), 1 tables, 2 results
    extra_config: dict[str, Any] = field(default_factory=dict)  # merged into every trial
    loggers: tuple[str, ...] = ()  # `--log`: tensorboard, mlflow, wandb (harness.run.loggers)
    progress_s: float = DEFAULT_INTERVAL_S  # between status lines of running units; 0: none
    echo: Callable[[str], None] = print


@dataclass(frozen=True)
class StrategyOutcome:
    """What one (strategy, seed) produced, for metadata and the per-strategy progress line."""

    name: str
    completion: Completion
    epochs: int
    forward: float
    wall_s: float
    final: dict[str, Any] | None
    note: str = ""  # how it was (re)started, for a resumed run
    # resumed mid-way although its strategy does not declare an exact resume
    # (`Strategy.exact_resume`): recorded in metadata.json, flagged in the table
    decisions_may_differ: bool = False

    @property
    def status(self) -> str:
        return self.completion.status

    def detail(self, metric: str) -> str:
        """What the progress line says after the status: trials, epochs, cost, the final model."""
        f = self.final or {}

        def fmt(key: str) -> str:
            v = f.get(key)
            return f"{v:.4f}" if isinstance(v, (int, float)) else "n/a"

        note = f" ({self.note})" if self.note else ""
        return (f"{self.completion.describe()}{note}, {self.epochs} epochs, "
                f"{self.forward:.3g} forward passes; final {metric}={fmt(metric)} "
                f"{TEST_ACC}={fmt(TEST_ACC)} {TEST_LOSS}={fmt(TEST_LOSS)}")


def load_trainable(path: str) -> Callable[[dict], None]:
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise HarnessError(f"trainable {path!r} cannot be imported: {e}") from None


def with_resources(trainable: Callable, spec: ExperimentSpec) -> Any:
    """The trainable with the spec's per-trial resources; fractional GPUs pack trials
    onto one device (0.25 -> four trials per GPU)."""
    from ray import tune

    return tune.with_resources(trainable, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})


# --- one (strategy, seed) ---------------------------------------------------------------

def fit_one(spec: ExperimentSpec, strategy: Strategy, seed: int, run_root: str,
            options: RunOptions, resume: bool, signals: StopSignals | None = None
            ) -> StrategyOutcome:
    """Build (or restore) and fit the Tuner of one (strategy, seed); judge it by its rows."""
    from ray import tune

    name = experiment_name(strategy.name, seed)
    run = Storage(run_root)
    exp = run.child(name)
    trainable = with_resources(load_trainable(options.trainable), spec)
    restore = resume and strategy.restorable and has_state(exp)
    # a unit with nothing on record starts fresh on resume: only one that had begun can differ
    may_differ = resume and not strategy.exact_resume and exp.exists()
    note = ""
    if restore:
        cut_partial_lines(exp)
        recovered = sum(recover_checkpointed_rows(exp).values())
        tuner = tune.Tuner.restore(exp.root, trainable, resume_unfinished=True,
                                   resume_errored=True)
        note = "continued from its saved state"
        if recovered:
            note += f"; {recovered} rows storage had lost came back from checkpoints"
    else:
        if exp.exists():  # killed before Tune saved state, or not restorable: start clean
            note = (f"restarted: {strategy.restart_note}" if not strategy.restorable
                    else "restarted: no readable saved Tune state")
            kept = keep_earlier_attempt(exp)  # its epochs were paid for: cost, not results
            if kept:
                note += f"; the earlier attempt's {kept} rows count as re-run cost"
        ctx = StrategyContext(strategy=strategy, spec=spec, seed=seed, storage_path=run_root,
                              trainable=trainable,
                              verbose=options.verbose, extra_config=dict(options.extra_config),
                              loggers=options.loggers)
        tuner = strategy.build(ctx)
    if may_differ:
        note = "; ".join(n for n in (note, INEXACT_NOTE) if n)
    if not restore:  # a restored Tuner keeps the staging folder of its first start
        staging.wait_for_turn(name)
    t0 = time.perf_counter()
    with signals.fitting() if signals is not None else contextlib.nullcontext(), loggers.only_asked():
        grid = tuner.fit()
    wall = time.perf_counter() - t0
    if restore:
        retire_orphans(exp, [grid[i].path for i in range(len(grid)) if grid[i].path])
    dedupe_results(exp)
    trials = strategy_rows(exp)
    completion = judge(trials, strategy.expected_trials(spec), spec.epochs, grid.num_errors,
                       stopped=scheduler_stopped(exp))
    if signals is not None and signals.stopped and completion.status != FINISHED:
        completion = replace(completion, status=INCOMPLETE)  # stopped, not failed
    rows = [r for t in trials.values() for r in t]
    return StrategyOutcome(name=name, completion=completion, epochs=len(rows),
                           forward=total_forward(rows + rerun_rows(exp)), wall_s=wall, note=note,
                           decisions_may_differ=may_differ,
                           final=final_row(trials, spec.metric, spec.mode, spec.epochs))


def _silent(line: str) -> None:
    """The echo of a remote driving task: its lines would arrive out of order; the driver
    prints each outcome itself."""


# --- a whole experiment -----------------------------------------------------------------

Task = tuple[Strategy, ExperimentSpec]  # what one entry of a run's plan runs


def tasks(spec: ExperimentSpec, meta: dict[str, Any]) -> dict[str, Task]:
    """Every entry of the run (a strategy, or a sweep's variant) with what it runs, each
    spec's search space resolved here, in the driver.

    Resolving imports torch (a CPU model names the rho), and a pickled spec carries what it
    resolved, so no unit's driving task imports torch (~1.2 CPU-s a process). A space that
    cannot be resolved is left to fail where it is used, as before: preflight, or the unit.
    """
    work = {entry: sweep.resolve(spec, entry, meta.get("sweep")) for entry in meta["strategies"]}
    for _, entry_spec in work.values():
        with contextlib.suppress(SpecError, ConfigError):
            entry_spec.search_space()
    return work


def plan(meta: dict[str, Any]) -> list[tuple[str, int]]:
    """Every (strategy, seed) of the run, strategies outer, in a stable order."""
    return [(s, k) for s in meta["strategies"] for k in meta["seeds"]]


def unit_size(task: Task) -> float:
    """The work of one (strategy, seed) in trial-epochs: its expected trials x epochs (an
    ASHA or HyperBand trial counts its full epochs). What the ETA counts and what launch
    order sorts by; planned FLOPs would weigh a cross-reg epoch above a fixed one, but need
    the model built (torch in the driver) and the trial-epochs already put a 16-trial search
    ahead of a single run, which is the order that matters for the tail."""
    strategy, spec = task
    return float(strategy.expected_trials(spec)) * float(spec.epochs)


def launch_order(todo: list[tuple[str, int]], work: dict[str, Task]) -> list[tuple[str, int]]:
    """`todo` largest unit first (ties keep the plan's order): side by side, a large search
    launched last would run alone at the end while the rest of the machine idles."""
    return sorted(todo, key=lambda p: -unit_size(work[p[0]]))


def _dir(todo: dict[str, Task], entry: str, seed: int) -> str:
    return experiment_name(todo[entry][0].name, seed)


def left_to_do(meta: dict[str, Any], work: dict[str, Task]) -> list[tuple[str, int]]:
    return [p for p in plan(meta) if meta["completed"].get(_dir(work, *p)) != FINISHED]


def run_dir_name(spec: ExperimentSpec) -> str:
    return metadata.stamped(spec.name)


def _check(spec: ExperimentSpec, work: dict[str, Task], options: RunOptions) -> str | None:
    """Everything that can fail before a directory is written or Ray starts; the address."""
    load_trainable(options.trainable)
    loggers.check(options.loggers)
    address = resolve_address(options.address)
    preflight.check(spec.name, list(work.values()), on_cluster=bool(address),
                    own_trainable=options.trainable == DEFAULT_TRAINABLE)
    if address:
        probe(address, source=address_source(options.address))
    return address


def start(spec: ExperimentSpec, options: RunOptions,
          budgets: dict[str, tuple[Any, ...]] | None = None,
          variants: dict[str, dict[str, Any]] | None = None) -> str:
    """Run every strategy x seed of `spec` (with `budgets`: every budget point of each, a
    sweep; with `variants`: exactly those, `{name: {"strategy": s, "budget": {field: value}}}`
    as a sweep records them, for a run that picks its own points, benchmarks/headline.py);
    return the run directory."""
    if budgets is not None and variants is not None:
        raise HarnessError("give budgets or variants, not both")
    if variants is not None:
        sweep.check_variants(spec, variants)
    elif budgets is not None:
        variants = sweep.variants(spec, budgets)
    entries = list(variants) if variants is not None else list(spec.strategies)
    work = tasks(spec, {"strategies": entries, "sweep": variants})
    address = _check(spec, work, options)
    storage = Storage(normalize(options.storage))
    storage.ensure_writable()
    note_run(None)  # no run of ours yet: an interrupt now leaves nothing to resume
    with StopSignals() as signals:
        connect(address, verbose=options.verbose > 0)
        check_resources(spec.cpus_per_trial, spec.gpus_per_trial, address)
        run = storage.child(run_dir_name(spec))
        run.ensure_writable()
        with resumable(run), RunLock(run):
            meta = metadata.new(spec.to_dict(), list(range(spec.seeds)), entries,
                                options.trainable, address)
            if variants is not None:
                meta["sweep"], meta["sweep_reference"] = variants, sweep.reference(spec, variants)
            meta["search_spaces"] = search_spaces(work)
            meta["loggers"] = list(options.loggers)  # a resume logs where the run did
            metadata.write(run, meta)
            note_run(run.root)  # from now on, a resume can continue it
            kind = "variants" if variants is not None else "strategies"
            seeds = f"{spec.seeds} seed{'s' if spec.seeds != 1 else ''}"
            options.echo(f"experiment {spec.name}: {len(entries)} {kind} x {seeds} -> {run.root}")
            with recorded(run, meta):
                _execute(run, meta, work, options, resume=False, signals=signals)
    return run.root


def search_spaces(work: dict[str, Task]) -> dict[str, str]:
    """What each entry searches, one line each (metadata.json `search_spaces`), for the
    entries that search rho; each read from the spec's one declaration
    (`ExperimentSpec.search_space`), so the report prints what ran."""
    return {entry: strategy.describe_space(spec) for entry, (strategy, spec) in work.items()
            if strategy.describe_space is not None}


def resume(run_root: str, options: RunOptions) -> str:
    """Finish an interrupted run: continue unfinished Tune experiments, start missing ones."""
    run = Storage(normalize(run_root))
    if not run.exists(metadata.FILE):
        raise HarnessError(f"{run_root}: no {metadata.FILE}; not an experiment run directory")
    meta = metadata.read(run)
    spec = spec_from_metadata(meta)
    work = tasks(spec, meta)
    trainable = options.trainable if options.trainable != DEFAULT_TRAINABLE else meta["trainable"]
    options = replace(options, trainable=trainable,
                      loggers=options.loggers or tuple(meta.get("loggers", ())))
    address = _check(spec, work, options)
    note_run(run.root)
    with resumable(run), RunLock(run) as lock, StopSignals() as signals:
        if lock.took_over:
            options.echo(f"the driver that held this run (pid {lock.took_over.get('pid')} on "
                         f"{lock.took_over.get('host')}) is gone; taking over")
        meta = metadata.read(run)  # as the last driver left it, now that we hold the lock
        todo = left_to_do(meta, work)
        options.echo(f"resuming {run.root}: {len(todo)} of {len(plan(meta))} (strategy, seed) left")
        if not todo:
            return run.root
        connect(address, verbose=options.verbose > 0)  # marked running once the cluster answers
        check_resources(spec.cpus_per_trial, spec.gpus_per_trial, address)
        meta["status"], meta["end_time"] = "running", None
        metadata.write(run, meta)
        with recorded(run, meta):
            _execute(run, meta, work, options, resume=True, signals=signals)
    return run.root


def spec_from_metadata(meta: dict[str, Any]) -> ExperimentSpec:
    """The spec a run's metadata.json recorded (an older run's retired fields dropped)."""
    values = without_retired(meta["spec"])
    return overrides.apply(ExperimentSpec(name=values["name"]), values)


def _execute(run: Storage, meta: dict[str, Any], work: dict[str, Task], options: RunOptions,
             resume: bool, signals: StopSignals) -> None:
    todo = left_to_do(meta, work)
    loggers.prepare(options.loggers, run_name=run.name)
    # one unit left: nothing could run beside it, and fitted in this driver its Tuner stops
    # gracefully on a signal (and costs no driving process of its own)
    side_by_side = options.concurrent and len(todo) > 1
    if side_by_side:
        todo = launch_order(todo, work)
    names = [_dir(work, s, k) for s, k in todo]
    # a resumed unit's earlier epochs are done, but not in this driver's time
    earlier = {n: float(trial_epochs(run.child(n))) for n in names} if resume else {}
    progress = Progress([(n, unit_size(work[s])) for n, (s, _) in zip(names, todo)],
                        echo=options.echo, earlier=earlier)
    with Heartbeat(run, progress, options.progress_s):
        if side_by_side:
            _run_concurrently(run, todo, work, options, resume, meta, progress)
        else:
            for entry, seed in todo:
                if signals.stopped:
                    break
                strategy, spec = work[entry]
                name = _dir(work, entry, seed)
                progress.start(name)
                t0 = time.perf_counter()
                try:
                    outcome = fit_one(spec, strategy, seed, run.root, options, resume, signals)
                finally:
                    _add_driver_seconds(meta, name, time.perf_counter() - t0)
                _record(run, meta, outcome, spec, progress)
    short = sorted(name for name in (_dir(work, *p) for p in plan(meta))
                   if meta["completed"].get(name) not in (FINISHED, "errored"))
    finish(run, meta, "finished" if not short and not signals.stopped else "interrupted")
    if signals.stopped:
        raise Interrupted(f"experiment interrupted; continue it with: crossreg resume {run.root}")
    if short:  # no signal: something ended a (strategy, seed) short (its lines above say what)
        raise EndedShort(f"{', '.join(short)} did not finish; continue with: "
                          f"crossreg resume {run.root}")
    errored = sorted(k for k, v in meta["completed"].items() if v == "errored")
    if errored:
        raise TrialsFailed(f"trials failed past their retries in {', '.join(errored)}; "
                           f"retry them with: crossreg resume {run.root}")


def _add_driver_seconds(meta: dict[str, Any], name: str, seconds: float) -> None:
    spent = meta.setdefault("driver_seconds", {})
    spent[name] = float(spent.get(name, 0.0)) + seconds


def _record(run: Storage, meta: dict[str, Any], outcome: StrategyOutcome, spec: ExperimentSpec,
            progress: Progress) -> None:
    if outcome.status == INCOMPLETE:
        meta["completed"].pop(outcome.name, None)
    else:
        meta["completed"][outcome.name] = outcome.status
    if outcome.decisions_may_differ:
        meta.setdefault(RESUMED_INEXACT_KEY, {})[outcome.name] = INEXACT_NOTE
    metadata.write(run, meta)
    progress.end(outcome.name, outcome.status, outcome.detail(spec.metric))
    sys.stdout.flush()


def _run_concurrently(run: Storage, todo: list[tuple[str, int]], work: dict[str, Task],
                      options: RunOptions, resume: bool, meta: dict[str, Any],
                      progress: Progress) -> None:
    """One Ray task per (strategy, seed), each driving its own Tuner (num_cpus=0: the
    driving task only schedules; its trials hold the resources), launched in `todo`'s order
    (largest first). At most one more is in flight than the cluster has room for trials:
    the extra one has trials waiting, so a CPU freed while a search winds down (its last
    rung, a grid's refit) is taken at once rather than when the next unit's driving process
    has started; not more, since each driving task is a process of its own (a hundred at
    once would hold gigabytes for nothing). The next starts as one ends."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote_options = replace(options, concurrent=False, echo=_silent)
    # on the driver's node: a Tuner writes its experiment under a local storage path on the
    # node it runs on, and the run directory lives on the driver's node
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    fit_remote = ray.remote(num_cpus=0, max_retries=0,
                            scheduling_strategy=here)(fit_one)  # type: ignore[call-overload]
    cpus = ray.cluster_resources().get("CPU", 1.0)
    room = max(2, int(cpus // max(spec.cpus_per_trial for _, spec in work.values())) + 1)
    queue = list(todo)
    pending: dict[Any, tuple[str, int, float]] = {}

    def launch() -> None:
        while queue and len(pending) < room:
            entry, seed = queue.pop(0)
            strategy, spec = work[entry]
            progress.start(_dir(work, entry, seed))
            ref = fit_remote.remote(spec, strategy, seed, run.root, remote_options, resume)
            pending[ref] = (entry, seed, time.perf_counter())

    try:
        launch()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            entry, seed, t0 = pending.pop(ready[0])
            _add_driver_seconds(meta, _dir(work, entry, seed), time.perf_counter() - t0)
            _record(run, meta, ray.get(ready[0]), work[entry][1], progress)
            launch()
    except BaseException:
        for ref, (entry, seed, t0) in pending.items():  # leave no search running behind us
            _add_driver_seconds(meta, _dir(work, entry, seed), time.perf_counter() - t0)
            ray.cancel(ref, force=True)
        raise


__all__ = [
    "DEFAULT_TRAINABLE",
    "RunOptions",
    "StrategyOutcome",
    "Task",
    "fit_one",
    "launch_order",
    "left_to_do",
    "load_trainable",
    "plan",
    "resume",
    "search_spaces",
    "spec_from_metadata",
    "start",
    "tasks",
    "unit_size",
    "with_resources",
]
