"""What every strategy shares: its declaration, its inputs, and the Tune run config.

A strategy module declares one `STRATEGY = Strategy(...)`; the package finds the module by
itself (harness.strategies), so a new strategy is one file. Its builder turns (spec, seed) into one
`ray.tune.Tuner` named `<strategy>-seed<k>` under the experiment run directory, so that every
(strategy, seed) is one Tune experiment that `Tuner.restore` can continue on its own. The run
config is the same for all strategies: retries from the last checkpoint (`FailureConfig`) and
a bounded number of checkpoints kept.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray import tune

from harness.experiments import ExperimentSpec, SearchSpace
from harness.run.results_io import json_rows
from harness.run.storage import Storage

CHECKPOINTS_KEPT = 2  # the most recent ones: enough for a retry and for PBT's exploit step
SAMPLER_SEED_OFFSET = 1000  # keeps search sampling streams apart from the trials' own seeds


@dataclass(frozen=True)
class StrategyContext:
    """Inputs of a builder: the strategy, the experiment, the seed, where to store, what to
    train."""

    strategy: Strategy
    spec: ExperimentSpec
    seed: int
    storage_path: str  # the experiment run directory (absolute path or URI)
    trainable: Any  # a Tune function trainable, already wrapped with its resources
    verbose: int = 1
    extra_config: dict[str, Any] = field(default_factory=dict)  # merged into every trial
    loggers: tuple[str, ...] = ()  # `--log` names (harness.run.loggers): Tune logger callbacks


@dataclass(frozen=True)
class Strategy:
    """One search strategy, as the runner, the preflight and the CLI need to know it."""

    name: str
    description: str
    learns_rho: bool  # its trials learn rho (cross-reg) or hold it fixed (every search)
    build: Callable[[StrategyContext], tune.Tuner]
    expected_trials: Callable[[ExperimentSpec], int]  # how many trials a complete run has
    # the knobs of its budget that a sweep varies (`--budget KNOB=V1,V2`), and its default
    # sweep: (label, spec changes) per budget point; None = one point, the spec's own
    budget_fields: tuple[str, ...] = ()
    sweep_points: Callable[[ExperimentSpec, Mapping[str, Sequence[Any]]],
                           list[tuple[str, dict[str, Any]]]] | None = None
    # False where `Tuner.restore` cannot continue it exactly: resume restarts it from
    # scratch, and the resume's output says why (`restart_note`)
    restorable: bool = True
    restart_note: str = "Tune cannot restore it exactly"
    # whether a resumed (strategy, seed), continued or restarted, decides as the same run
    # uninterrupted would (same trials, epochs, final model). False by default: a strategy
    # of the user's own, with a scheduler or searcher whose state lives only in memory, may
    # decide otherwise after `Tuner.restore` (Ray 2.60 restores no scheduler state), and a
    # resume must not pass that off as the same run: metadata.json records each such resumed
    # (strategy, seed) and the table says `resumed: decisions may differ`. The harness's own
    # strategies declare True in their files, where tests/harness/test_exact_resume.py
    # proves it for each.
    exact_resume: bool = False
    # the trial configs a preflight checks (default: the one `trial_config` builds)
    preflight_configs: Callable[[ExperimentSpec, int], list[dict[str, Any]]] | None = None
    # whether its final model needs held-out rows (to learn rho, to select, to stop early);
    # False for a method that only trains (fixed, an ensemble, grid CV's refit): under the
    # spec's `full_pool` protocol its final model then trains on the whole pool. Declared in
    # each strategy's own file, so a new strategy says it where it is defined.
    needs_holdout: bool = True
    # what it searches, as one line for people (metadata.json `search_spaces`); None: it
    # searches nothing
    describe_space: Callable[[ExperimentSpec], str] | None = None

    def configs_to_check(self, spec: ExperimentSpec, seed: int = 0) -> list[dict[str, Any]]:
        if self.preflight_configs is not None:
            return self.preflight_configs(spec, seed)
        return [spec.trial_config(self.name, seed, learned=self.learns_rho,
                                  **final_split(spec, self.needs_holdout))]


def final_split(spec: ExperimentSpec, needs_holdout: bool) -> dict[str, Any]:
    """The split keys of a final model's trial under the spec's `protocol`: nothing (the
    training split, pool minus the regularization split) unless the protocol is `full_pool`
    and the strategy needs no held-out rows, then the whole pool (`fold=-1`, no reg split,
    as grid CV's refit; trainables/datasets/splitting.py)."""
    if needs_holdout or spec.protocol != "full_pool":
        return {}
    return {"n_folds": 1, "fold": -1}


def experiment_name(strategy: str, seed: int) -> str:
    """The Tune experiment directory name of one (strategy, seed): `<strategy>-seed<k>`."""
    return f"{strategy}-seed{seed}"


def run_config(ctx: StrategyContext, checkpoints_kept: int = CHECKPOINTS_KEPT) -> tune.RunConfig:
    """The trainables' Tuner run config (trainables.tune.run_config) for this (strategy, seed),
    with the run's `--log` callbacks."""
    from harness.run import loggers
    from trainables.tune import run_config as trial_run_config

    name = experiment_name(ctx.strategy.name, ctx.seed)
    run_name = Storage(ctx.storage_path).name
    return trial_run_config(ctx.storage_path, name, max_failures=ctx.spec.max_failures,
                            checkpoints_kept=checkpoints_kept, verbose=ctx.verbose,
                            callbacks=loggers.callbacks(ctx.loggers, run_name=run_name, unit=name))


def base_config(ctx: StrategyContext, **overrides: Any) -> dict[str, Any]:
    """The strategy's trial config for this seed (`overrides` set its per-trial fields)."""
    config = ctx.spec.trial_config(ctx.strategy.name, ctx.seed,
                                   learned=ctx.strategy.learns_rho, **overrides)
    config.update(ctx.extra_config)
    return config


def tune_domain(space: SearchSpace) -> Any:
    """The spec's declared search space as Tune's param space of `rho`: one (log-)uniform
    domain per searched name, or one for the shared scalar."""
    def one() -> Any:
        return (tune.loguniform if space.log else tune.uniform)(space.low, space.high)

    return {n: one() for n in space.names} if space.names else one()


def log_uniform_rho(ctx: StrategyContext) -> Any:
    """The run's search space over rho (`ExperimentSpec.search_space`) as Tune's domain:
    what every sampled search draws from."""
    return tune_domain(ctx.spec.search_space())


def sampled_space(samples_field: str) -> Callable[[ExperimentSpec], str]:
    """`describe_space` of a sampled search: the declared space and how many draws."""
    def describe(spec: ExperimentSpec) -> str:
        return f"{spec.search_space().describe()}; {int(getattr(spec, samples_field))} samples"
    describe.__doc__ = f"The declared space and the spec's {samples_field}."
    return describe


def seeded_sampler(ctx: StrategyContext, kind: type | None = None) -> Any:
    """Tune's random sampler (or the subclass `kind`) seeded from the run's seed (never
    module-level random state), so the configurations a search draws are reproducible
    across runs and clusters."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return (kind or BasicVariantGenerator)(random_state=SAMPLER_SEED_OFFSET + ctx.seed)


class SeededScheduler:
    """A mixin for a Tune scheduler whose decisions draw from Python's and numpy's global
    generators (PBT, PB2): every `on_trial_result` runs with the scheduler's own generator
    states, seeded from the run, swapped in, and the process's states put back afterwards,
    so the run's random state belongs to the run and reruns decide alike."""

    def __init__(self, *args: Any, seed: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._py_state = random.Random(seed).getstate()
        self._np_state = np.random.RandomState(seed).get_state()

    @contextlib.contextmanager
    def own_random_state(self) -> Iterator[None]:
        saved_py, saved_np = random.getstate(), np.random.get_state()
        random.setstate(self._py_state)
        np.random.set_state(self._np_state)
        try:
            yield
        finally:
            self._py_state, self._np_state = random.getstate(), np.random.get_state()
            random.setstate(saved_py)
            np.random.set_state(saved_np)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        with self.own_random_state():
            return super().on_trial_result(tune_controller, trial, result)  # type: ignore[misc]


def recorded_rows(trial: Any) -> list[dict[str, Any]]:
    """The rows a trial has on record in its storage directory's result.json, in the order
    it reported them; none for a trial that never reported (a fresh one) or whose file
    cannot be read. A line that is not a JSON object (the half-written last line of a
    killed driver) is skipped.

    Why: Ray Tune 2.60 never calls a scheduler's save or restore, so after `Tuner.restore` a
    scheduler starts empty; the rows are the record of what it saw, and a scheduler that
    replays them decides as the uninterrupted run would (`ReplayingASHA`).
    """
    storage = getattr(trial, "storage", None)
    if storage is None or not getattr(storage, "trial_dir_name", None):  # not created yet
        return []
    try:
        with storage.storage_filesystem.open_input_stream(
                f"{storage.trial_fs_path}/result.json") as f:
            text = f.readall().decode()
    except (OSError, ValueError):  # no file yet (FileNotFoundError is an OSError)
        return []
    return json_rows(text)


def creation_index(trial: Any) -> int:
    """The order in which the search created a trial: the counter that both Tune search
    generators put first in its `experiment_tag` (`3_rho=...`); trial ids do not carry it
    (a searcher's are random)."""
    head = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(head) if head.isdigit() else 1 << 62


class CreationOrder:
    """A mixin for a FIFO-like Tune scheduler: the next trial to start is the pending one
    the search created first, paused ones after (as Tune's FIFO).

    Why: Tune's FIFO starts the first pending trial of its list, which is creation order in
    a fresh run; `Tuner.restore` re-adds the trials sorted by the time of their last result,
    newest first, so a resumed run would start the never-started trials in another order and
    a scheduler that compares trials (ASHA's rungs, TPE's history) would see them in another
    order and decide differently. Creation order is the uninterrupted run's order.
    """

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        from ray.tune.experiment import Trial

        trials = tune_controller.get_trials()
        for status in (Trial.PENDING, Trial.PAUSED):
            waiting = [t for t in trials if t.status == status]
            if waiting:
                return min(waiting, key=creation_index)
        return None


def short_trial_name(trial: Any) -> str:
    """`<trainable>_<trial id>`: Tune's default puts the whole config in the directory
    name, which overflows path limits with per-layer dicts and long data paths."""
    return f"{trial.trainable_name}_{trial.trial_id}"


def tune_config(**kwargs: Any) -> tune.TuneConfig:
    """Tune's config with the harness's short trial directory names."""
    return tune.TuneConfig(trial_dirname_creator=short_trial_name, **kwargs)


def single_run(ctx: StrategyContext, **overrides: Any) -> tune.Tuner:
    """One trial per seed (cross_reg, fixed): no scheduler, no search; on the rows its
    final model trains on under the spec's protocol (`final_split`)."""
    split = final_split(ctx.spec, ctx.strategy.needs_holdout)
    return tune.Tuner(
        ctx.trainable,
        param_space=base_config(ctx, role="single", **split, **overrides),
        tune_config=tune_config(num_samples=1),
        run_config=run_config(ctx),
    )


def sampled_search(ctx: StrategyContext, scheduler: Any, num_samples: int,
                   checkpoints_kept: int = CHECKPOINTS_KEPT, sampler_kind: type | None = None,
                   **overrides: Any) -> tune.Tuner:
    """`num_samples` per-layer log-uniform rho draws from the run's seeded sampler (of
    `sampler_kind`) under a trial scheduler (pbt, asha), selected by the spec's validation
    metric."""
    spec = ctx.spec
    return tune.Tuner(
        ctx.trainable,
        param_space=base_config(ctx, role="member", rho=log_uniform_rho(ctx), **overrides),
        tune_config=tune_config(
            metric=spec.metric,
            mode=spec.mode,
            scheduler=scheduler,
            search_alg=seeded_sampler(ctx, sampler_kind),
            num_samples=num_samples,
            reuse_actors=True,
        ),
        run_config=run_config(ctx, checkpoints_kept=checkpoints_kept),
    )


def count_of(field: str) -> Callable[[ExperimentSpec], int]:
    """`expected_trials` of a search whose number of trials is one spec field."""
    def expected(spec: ExperimentSpec) -> int:
        return int(getattr(spec, field))
    return expected


def count_sweep(field: str, label: str, default: tuple[int, ...]
                ) -> Callable[[ExperimentSpec, Mapping[str, Sequence[Any]]], list[tuple[str, dict[str, Any]]]]:
    """Sweep points of a budget that is one count (a population, a number of samples):
    `default` unless the sweep gives `field`; labelled `<label><n>` (P4, N8)."""
    def points(spec: ExperimentSpec, budgets: Mapping[str, Sequence[Any]]) -> list[tuple[str, dict[str, Any]]]:
        return [(f"{label}{int(n)}", {field: int(n)}) for n in budgets.get(field, default)]
    return points


#: one knob of a budget sweep: (spec field, label prefix, its default sweep values); the
#: count of a search (samples, population) comes first, its patience after it
Knob = tuple[str, str, tuple[Any, ...]]


def knob_label(prefix: str, value: Any) -> str:
    """`N8`, `grace10`, `lr0.001`: a knob's label prefix and its value, readable."""
    return f"{prefix}{int(value)}" if float(value).is_integer() else f"{prefix}{float(value):g}"


def knobs_sweep(*knobs: Knob) -> Callable[[ExperimentSpec, Mapping[str, Sequence[Any]]],
                                          list[tuple[str, dict[str, Any]]]]:
    """Sweep points of a search with a count and patience knobs (ASHA's samples and grace
    period, PBT's population and interval).

    Without `--budget` for any of them: the first knob's default points (at the spec's own
    patience), then each further knob's default points at the spec's own count, a value equal
    to the spec's own left out (that point is one of the count's). With `--budget` for some:
    the product of the given values, each knob not given at the spec's own value, labelled by
    the given knobs only (`N8_grace10`; `grace10` alone).
    """
    def points(spec: ExperimentSpec, budgets: Mapping[str, Sequence[Any]]) -> list[tuple[str, dict[str, Any]]]:
        given = [k for k in knobs if k[0] in budgets]
        if given:
            values = [list(budgets[field]) for field, _, _ in given]  # the spec types them
            return [("_".join(knob_label(label, v) for (_, label, _), v in zip(given, combo)),
                     {field: v for (field, _, _), v in zip(given, combo)})
                    for combo in itertools.product(*values)]
        (field, label, default), *patience = knobs
        out = [(knob_label(label, n), {field: int(n)}) for n in default]
        for field, label, default in patience:
            own = getattr(spec, field)
            out += [(knob_label(label, v), {field: int(v)}) for v in default if int(v) != own]
        return out
    return points


def search_range_configs(strategy: str) -> Callable[[ExperimentSpec, int], list[dict[str, Any]]]:
    """Preflight configs of a sampled search: both ends of the searched rho range."""
    def configs(spec: ExperimentSpec, seed: int) -> list[dict[str, Any]]:
        return [spec.trial_config(strategy, seed, learned=False, role="member",
                                  rho=spec.per_layer(value))
                for value in spec.search_range()]
    return configs


__all__ = [
    "CHECKPOINTS_KEPT",
    "CreationOrder",
    "SeededScheduler",
    "Strategy",
    "StrategyContext",
    "base_config",
    "count_sweep",
    "creation_index",
    "experiment_name",
    "final_split",
    "knob_label",
    "knobs_sweep",
    "log_uniform_rho",
    "recorded_rows",
    "run_config",
    "sampled_search",
    "sampled_space",
    "search_range_configs",
    "short_trial_name",
    "single_run",
    "tune_config",
    "tune_domain",
]
