"""asha: N sampled per-layer rho configurations under the asynchronous successive halving
scheduler. Pinned: reduction_factor from the spec (3), grace period from the spec (1-2
epochs), max_t = epochs, time_attr = training_iteration, one bracket. Stopped trials are not
candidates for the final model but their epochs count towards the cost.
"""

from __future__ import annotations

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from harness.strategies.common import (
    Strategy,
    StrategyContext,
    count_of,
    count_sweep,
    sampled_search,
    search_range_configs,
)

NAME = "asha"


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


def build(ctx: StrategyContext) -> tune.Tuner:
    return sampled_search(ctx, scheduler(ctx), ctx.spec.asha_samples)



STRATEGY = Strategy(
    name=NAME,
    description="N sampled per-layer configs under asynchronous successive halving",
    learns_rho=False,
    build=build,
    expected_trials=count_of("asha_samples"),
    budget_fields=("asha_samples",),
    sweep_points=count_sweep("asha_samples", "N", (4, 8, 16, 32)),
    preflight_configs=search_range_configs(NAME),
)
