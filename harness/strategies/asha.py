"""asha: N sampled per-layer rho configurations under the asynchronous successive halving
scheduler. Pinned: reduction_factor from the spec (3), grace period from the spec (1-2
epochs), max_t = epochs, time_attr = training_iteration, one bracket. Stopped trials are not
candidates for the final model but their epochs count towards the cost.
"""

from __future__ import annotations

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from harness.strategies.common import (
    BuiltStrategy,
    StrategyContext,
    base_config,
    log_uniform_rho,
    seeded_sampler,
    run_config,
    tune_config,
)

STRATEGY = "asha"


def scheduler(ctx: StrategyContext) -> ASHAScheduler:
    spec = ctx.spec
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=spec.epochs,
        grace_period=spec.grace_period,
        reduction_factor=spec.asha_reduction_factor,
        brackets=1,
        stop_last_trials=True,
    )


def build(ctx: StrategyContext) -> BuiltStrategy:
    spec = ctx.spec
    config = base_config(ctx, STRATEGY, role="member", rho=log_uniform_rho(ctx))
    tuner = tune.Tuner(
        ctx.trainable,
        param_space=config,
        tune_config=tune_config(
            metric=spec.metric,
            mode=spec.mode,
            scheduler=scheduler(ctx),
            search_alg=seeded_sampler(ctx),
            num_samples=spec.asha_samples,
            reuse_actors=True,
        ),
        run_config=run_config(ctx, STRATEGY),
    )
    return BuiltStrategy(tuner, expected_trials=spec.asha_samples)
