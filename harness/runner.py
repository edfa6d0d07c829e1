"""Running an experiment: connect to Ray, run every (strategy, seed), record, resume.

One invocation of `run` creates one experiment run directory under the storage path,
`<storage>/<experiment>-<UTC timestamp>/`, holding `metadata.json` and one Tune experiment
per (strategy, seed) named `<strategy>-seed<k>` (docs/contract.md). Strategies run one after
another in this driver, or concurrently (`concurrent=True`) as Ray tasks that each drive one
Tuner, so that all searches share the cluster's resources in one Ray session.

`resume` reads `metadata.json`, skips what is recorded as done, continues each Tune experiment
that left restorable state (`Tuner.restore(resume_unfinished=True, resume_errored=True)`) and
starts the missing ones afresh. Afterwards result files are de-duplicated (see results_io),
so every trial's epochs appear exactly once.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from harness import metadata, overrides
from harness.errors import HarnessError, Interrupted, TrialsFailed
from harness.experiments import ExperimentSpec
from harness.results_io import (
    dedupe_results,
    final_row,
    prune_orphans,
    strategy_rows,
    total_forward,
)
from harness.storage import Storage, normalize
from harness.strategies import BUILDERS, StrategyContext, experiment_name, restorable

DEFAULT_TRAINABLE = "trainables.tune:train_fn"
DEFAULT_STORAGE = "results"
ADDRESS_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what): storage, cluster, concurrency, trainable, verbosity."""

    storage: str = DEFAULT_STORAGE
    address: str | None = None
    concurrent: bool = False
    trainable: str = DEFAULT_TRAINABLE  # "module:attr" of a Tune function trainable
    verbose: int = 1  # Ray Tune's progress output: 0 silent, 1 status tables, 2 results
    extra_config: dict[str, Any] = field(default_factory=dict)  # merged into every trial
    echo: Callable[[str], None] = print


@dataclass(frozen=True)
class StrategyOutcome:
    """What one (strategy, seed) produced, for the compact per-strategy progress line."""

    name: str
    status: str  # finished | errored | incomplete
    trials: int
    epochs: int
    forward: float
    wall_s: float
    final: dict[str, Any] | None

    def line(self, metric: str) -> str:
        f = self.final or {}

        def fmt(key: str) -> str:
            v = f.get(key)
            return f"{v:.4f}" if isinstance(v, (int, float)) else "n/a"

        return (f"[{self.name}] {self.status}: {self.trials} trials, {self.epochs} epochs, "
                f"{self.forward:.3g} forward passes, {self.wall_s:.1f} s; final model "
                f"{metric}={fmt(metric)} test_acc={fmt('test_acc')} test_loss={fmt('test_loss')}")


# --- Ray session ------------------------------------------------------------------------

def connect(address: str | None) -> None:
    """Join the Ray session: the running one (tests), a cluster at `address`, or a new
    local one sized to this machine. An unreachable address fails fast with HarnessError
    (ray.init would otherwise retry for minutes)."""
    import ray

    if ray.is_initialized():
        return
    if address and address != "auto":
        _probe(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
    except (ConnectionError, TimeoutError) as e:
        raise HarnessError(f"cannot reach a Ray cluster at {address}: {e}") from None


def check_resources(spec: ExperimentSpec, address: str | None) -> None:
    """Refuse a trial that can never be placed in a local session (Tune would wait forever:
    `--gpus-per-trial` on a machine without a GPU). On a cluster (`address` given) nodes
    may still be added by the autoscaler, so nothing is refused there."""
    import ray

    if address:
        return
    total = ray.cluster_resources()
    for key, need in (("GPU", spec.gpus_per_trial), ("CPU", spec.cpus_per_trial)):
        have = total.get(key, 0.0)
        if need > have:
            field = "gpus_per_trial" if key == "GPU" else "cpus_per_trial"
            raise HarnessError(f"{field}={need:g}: this Ray session has {have:g} {key}s, so no "
                               f"trial could ever start; lower it or pass --address of a cluster")


def _probe(address: str) -> None:
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise HarnessError(f"--address {address!r}: expected host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=ADDRESS_PROBE_TIMEOUT_S):
            pass
    except OSError as e:
        raise HarnessError(f"cannot reach a Ray cluster at {address}: {e.strerror or e}") from None


def preflight(spec: ExperimentSpec, strategies: Sequence[str]) -> None:
    """Validate one representative trial config per strategy with the trainables' own
    checks, so a bad value fails in a second on the driver, not in every trial on workers."""
    try:
        from trainables.config import ConfigError, TrialConfig
    except ImportError:
        return
    for strategy in strategies:
        extra: dict[str, Any] = {"rho": spec.per_layer(spec.rho_init)}
        if strategy == "grid_cv" and spec.cv_folds > 1:
            extra.update(n_folds=spec.cv_folds, fold=0)
        try:
            TrialConfig.from_dict(spec.trial_config(strategy, 0, **extra))
        except ConfigError as e:
            raise HarnessError(f"experiment {spec.name}, strategy {strategy}: {e}") from None


def load_trainable(path: str) -> Callable[[dict], None]:
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise HarnessError(f"trainable {path!r} cannot be imported: {e}") from None


def with_resources(trainable: Callable, spec: ExperimentSpec) -> Any:
    """The trainable with the spec's per-trial resources; fractional GPUs pack trials
    onto one device (0.25 -> four trials per GPU)."""
    from ray import tune

    return tune.with_resources(trainable, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})


# --- one (strategy, seed) ---------------------------------------------------------------

def fit_one(spec: ExperimentSpec, strategy: str, seed: int, run_root: str,
            options: RunOptions, resume: bool) -> StrategyOutcome:
    """Build (or restore) and fit the Tuner of one (strategy, seed); judge completeness."""
    import time

    from ray import tune

    name = experiment_name(strategy, seed)
    run = Storage(run_root)
    exp = run.child(name)
    trainable = with_resources(load_trainable(options.trainable), spec)
    ctx = StrategyContext(spec=spec, seed=seed, storage_path=run_root, trainable=trainable,
                          verbose=options.verbose, extra_config=dict(options.extra_config))
    built = BUILDERS[strategy](ctx)
    t0 = time.perf_counter()
    restored = False
    if resume and restorable(strategy) and _has_state(exp):
        tuner = tune.Tuner.restore(exp.root, trainable, resume_unfinished=True,
                                   resume_errored=True)
        restored = True
    else:
        if exp.exists():  # killed before Tune saved state, or not restorable: start clean
            run.delete_dir(name)
        tuner = built.tuner
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    if restored:
        prune_orphans(exp, [r.path for r in grid if r.path])
    dedupe_results(exp)
    n_errors = grid.num_errors
    done = len(grid) >= built.expected_trials and grid.num_terminated + n_errors == len(grid)
    status = "incomplete" if not done else ("errored" if n_errors else "finished")
    trials = strategy_rows(exp)
    rows = [r for t in trials.values() for r in t]
    return StrategyOutcome(name=name, status=status, trials=len(trials), epochs=len(rows),
                           forward=total_forward(rows), wall_s=wall,
                           final=final_row(trials, spec.metric, spec.mode, spec.epochs))


def _has_state(exp: Storage) -> bool:
    """Whether Tune left enough to restore: its tuner.pkl *and* an experiment-state
    snapshot (a driver killed between writing the two leaves only the first, and
    `Tuner.restore` would then restart with an empty config)."""
    from ray import tune

    return tune.Tuner.can_restore(exp.root) and any(
        n.startswith("experiment_state-") and n.endswith(".json") for n in exp.list_files())


# --- a whole experiment -----------------------------------------------------------------

def plan(meta: dict[str, Any]) -> list[tuple[str, int]]:
    """Every (strategy, seed) of the run, strategies outer, in a stable order."""
    return [(s, k) for s in meta["strategies"] for k in meta["seeds"]]


def run_dir_name(spec: ExperimentSpec) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    return f"{spec.name}-{stamp}"


def start(spec: ExperimentSpec, options: RunOptions) -> str:
    """Run every strategy x seed of `spec` (validated when it was built); return the run dir."""
    strategies = list(spec.strategies)
    n_seeds = spec.seeds
    load_trainable(options.trainable)
    if options.trainable == DEFAULT_TRAINABLE:
        preflight(spec, strategies)
    if options.address and options.address != "auto":
        _probe(options.address)  # before anything is written
    storage = Storage(normalize(options.storage))
    storage.ensure_writable()
    connect(options.address)
    check_resources(spec, options.address)
    run = storage.child(run_dir_name(spec))
    run.ensure_writable()
    meta = metadata.new(spec.to_dict(), list(range(n_seeds)), strategies, options.trainable,
                        options.address)
    metadata.write(run, meta)
    options.echo(f"experiment {spec.name}: {len(strategies)} strategies x {n_seeds} seeds -> {run.root}")
    _execute(spec, run, meta, options, resume=False)
    return run.root


def resume(run_root: str, options: RunOptions) -> str:
    """Finish an interrupted run: restore unfinished Tune experiments, start missing ones."""
    run = Storage(normalize(run_root))
    if not run.exists(metadata.FILE):
        raise HarnessError(f"{run_root}: no {metadata.FILE}; not an experiment run directory")
    meta = metadata.read(run)
    spec = spec_from_metadata(meta)
    trainable = options.trainable if options.trainable != DEFAULT_TRAINABLE else meta["trainable"]
    options = RunOptions(storage=options.storage, address=options.address,
                         concurrent=options.concurrent, trainable=trainable,
                         verbose=options.verbose, extra_config=options.extra_config,
                         echo=options.echo)
    load_trainable(options.trainable)
    todo = [p for p in plan(meta) if meta["completed"].get(experiment_name(*p)) != "finished"]
    options.echo(f"resuming {run.root}: {len(todo)} of {len(plan(meta))} (strategy, seed) left")
    meta["status"] = "running"
    metadata.write(run, meta)
    connect(options.address)
    check_resources(spec, options.address)
    _execute(spec, run, meta, options, resume=True)
    return run.root


def spec_from_metadata(meta: dict[str, Any]) -> ExperimentSpec:
    values = dict(meta["spec"])
    return overrides.apply(ExperimentSpec(name=values["name"]), values)


def _execute(spec: ExperimentSpec, run: Storage, meta: dict[str, Any], options: RunOptions,
             resume: bool) -> None:
    todo = [p for p in plan(meta) if meta["completed"].get(experiment_name(*p)) != "finished"]
    try:
        if options.concurrent:
            outcomes = _run_concurrently(spec, run, todo, options, resume, meta)
        else:
            outcomes = []
            for strategy, seed in todo:
                outcome = fit_one(spec, strategy, seed, run.root, options, resume)
                _record(run, meta, outcome, spec, options)
                outcomes.append(outcome)
                if outcome.status == "incomplete":  # Tune caught a SIGINT: stop here
                    break
    except BaseException:  # Ctrl-C, a storage error, a failed driving task: never left "running"
        _finish(run, meta, "interrupted")
        raise
    complete = all(meta["completed"].get(experiment_name(*p)) in ("finished", "errored")
                   for p in plan(meta))
    _finish(run, meta, "finished" if complete else "interrupted")
    if not complete:
        raise Interrupted(f"experiment interrupted; continue it with: crossreg resume {run.root}")
    errored = sorted(k for k, v in meta["completed"].items() if v == "errored")
    if errored:
        raise TrialsFailed(f"trials failed past their retries in {', '.join(errored)}; "
                           f"retry them with: crossreg resume {run.root}")


def _record(run: Storage, meta: dict[str, Any], outcome: StrategyOutcome, spec: ExperimentSpec,
            options: RunOptions) -> None:
    if outcome.status != "incomplete":
        meta["completed"][outcome.name] = outcome.status
    metadata.write(run, meta)
    options.echo(outcome.line(spec.metric))
    sys.stdout.flush()


def _finish(run: Storage, meta: dict[str, Any], status: str) -> None:
    meta["status"] = status
    meta["end_time"] = metadata.now()
    metadata.write(run, meta)


def _run_concurrently(spec: ExperimentSpec, run: Storage, todo: list[tuple[str, int]],
                      options: RunOptions, resume: bool, meta: dict[str, Any]
                      ) -> list[StrategyOutcome]:
    """One Ray task per (strategy, seed), each driving its own Tuner (num_cpus=0: the
    driving task only schedules; its trials hold the resources)."""
    import ray

    remote_options = RunOptions(storage=options.storage, address=options.address,
                                concurrent=False, trainable=options.trainable,
                                verbose=options.verbose, extra_config=options.extra_config,
                                echo=print)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # on the driver's node: a Tuner writes its experiment under a local storage path on the
    # node it runs on, and the run directory lives on the driver's node
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    fit_remote = ray.remote(num_cpus=0, max_retries=0, scheduling_strategy=here)(fit_one)
    pending = {fit_remote.remote(spec, s, k, run.root, remote_options, resume): (s, k)
               for s, k in todo}
    outcomes = []
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            pending.pop(ready[0])
            outcome = ray.get(ready[0])
            _record(run, meta, outcome, spec, options)
            outcomes.append(outcome)
    except BaseException:
        for ref in pending:  # a failed or interrupted driver leaves no search running behind it
            ray.cancel(ref, force=True)
        raise
    return outcomes


__all__ = ["RunOptions", "StrategyOutcome", "connect", "start", "resume", "fit_one",
           "plan", "spec_from_metadata", "load_trainable", "with_resources"]
