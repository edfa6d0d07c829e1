"""asha: N sampled per-layer rho configurations under the asynchronous successive halving
scheduler. Pinned: reduction_factor from the spec (3), grace period from the spec (1-2
epochs), max_t = epochs, time_attr = training_iteration, one bracket. Stopped trials are not
candidates for the final model but their epochs count towards the cost.
"""

from __future__ import annotations

from ray.tune.schedulers import ASHAScheduler

from harness.strategies.common import BuiltStrategy, StrategyContext, sampled_search

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
    return sampled_search(ctx, STRATEGY, scheduler(ctx), ctx.spec.asha_samples)
