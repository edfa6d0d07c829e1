"""What every strategy builder shares: its inputs, the Tune run config, and its output.

A builder turns (spec, seed) into one `ray.tune.Tuner` named `<strategy>-seed<k>` under the
experiment run directory, so that every (strategy, seed) is one Tune experiment that
`Tuner.restore` can continue on its own. The run config is the same for all strategies:
retries from the last checkpoint (`FailureConfig`) and a bounded number of checkpoints kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ray import tune

from harness.experiments import ExperimentSpec
from harness.tune_logging import KeepLocalResults

CHECKPOINTS_KEPT = 2  # the most recent ones: enough for a retry and for PBT's exploit step
SAMPLER_SEED_OFFSET = 1000  # keeps search sampling streams apart from the trials' own seeds


@dataclass(frozen=True)
class StrategyContext:
    """Inputs of a builder: the experiment, the seed, where to store, what to train."""

    spec: ExperimentSpec
    seed: int
    storage_path: str  # the experiment run directory (absolute path or URI)
    trainable: Any  # a Tune function trainable, already wrapped with its resources
    verbose: int = 1
    extra_config: dict[str, Any] = field(default_factory=dict)  # merged into every trial


@dataclass(frozen=True)
class BuiltStrategy:
    """A ready Tuner plus what the runner needs to judge that it completed."""

    tuner: tune.Tuner
    expected_trials: int


def experiment_name(strategy: str, seed: int) -> str:
    """The Tune experiment directory name of one (strategy, seed): `<strategy>-seed<k>`."""
    return f"{strategy}-seed{seed}"


def run_config(ctx: StrategyContext, strategy: str,
               checkpoints_kept: int = CHECKPOINTS_KEPT) -> tune.RunConfig:
    return tune.RunConfig(
        name=experiment_name(strategy, ctx.seed),
        storage_path=ctx.storage_path,
        failure_config=tune.FailureConfig(max_failures=ctx.spec.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_kept),
        verbose=ctx.verbose,
        callbacks=[KeepLocalResults()],
    )


def base_config(ctx: StrategyContext, strategy: str, **overrides: Any) -> dict[str, Any]:
    config = ctx.spec.trial_config(strategy, ctx.seed, **overrides)
    config.update(ctx.extra_config)
    return config


def log_uniform_rho(ctx: StrategyContext) -> Any:
    """Per-layer log-uniform search space over [rho_low, rho_high] (a scalar if no layers)."""
    spec = ctx.spec
    names = spec.layer_names()
    if not names:
        return tune.loguniform(spec.rho_low, spec.rho_high)
    return {n: tune.loguniform(spec.rho_low, spec.rho_high) for n in names}


def seeded_sampler(ctx: StrategyContext) -> Any:
    """Tune's random sampler seeded from the run's seed (never module-level random state),
    so the configurations a search draws are reproducible across runs and clusters."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=SAMPLER_SEED_OFFSET + ctx.seed)


def short_trial_name(trial: Any) -> str:
    """`<trainable>_<trial id>`: Tune's default puts the whole config in the directory
    name, which overflows path limits with per-layer dicts and long data paths."""
    return f"{trial.trainable_name}_{trial.trial_id}"


def tune_config(**kwargs: Any) -> tune.TuneConfig:
    """Tune's config with the harness's short trial directory names."""
    return tune.TuneConfig(trial_dirname_creator=short_trial_name, **kwargs)


def single_run(ctx: StrategyContext, strategy: str, **overrides: Any) -> BuiltStrategy:
    """One trial per seed (cross_reg, fixed): no scheduler, no search."""
    tuner = tune.Tuner(
        ctx.trainable,
        param_space=base_config(ctx, strategy, role="single", **overrides),
        tune_config=tune_config(num_samples=1),
        run_config=run_config(ctx, strategy),
    )
    return BuiltStrategy(tuner, expected_trials=1)


def sampled_search(ctx: StrategyContext, strategy: str, scheduler: Any, num_samples: int,
                   checkpoints_kept: int = CHECKPOINTS_KEPT, **overrides: Any) -> BuiltStrategy:
    """`num_samples` per-layer log-uniform rho draws from the run's seeded sampler under a
    trial scheduler (pbt, asha), selected by the spec's validation metric."""
    spec = ctx.spec
    tuner = tune.Tuner(
        ctx.trainable,
        param_space=base_config(ctx, strategy, role="member", rho=log_uniform_rho(ctx), **overrides),
        tune_config=tune_config(
            metric=spec.metric,
            mode=spec.mode,
            scheduler=scheduler,
            search_alg=seeded_sampler(ctx),
            num_samples=num_samples,
            reuse_actors=True,
        ),
        run_config=run_config(ctx, strategy, checkpoints_kept=checkpoints_kept),
    )
    return BuiltStrategy(tuner, expected_trials=num_samples)


Builder = Callable[[StrategyContext], BuiltStrategy]

__all__ = ["StrategyContext", "BuiltStrategy", "experiment_name", "run_config", "base_config",
           "log_uniform_rho", "tune_config", "short_trial_name", "single_run", "sampled_search",
           "Builder", "CHECKPOINTS_KEPT"]
