"""asha: N sampled per-layer rho configurations under the asynchronous successive halving
scheduler. Pinned: reduction_factor from the spec (3), grace period from the spec (1-2
epochs), max_t = epochs, time_attr = training_iteration, one bracket. Stopped trials are not
candidates for the final model but their epochs count towards the cost.

Both the number of samples and the grace period are budget knobs (`crossreg sweep
--budget asha_grace_period=2,10,20`): a short grace period chooses on early validation
scores, which favour weak regularization, so a patient ASHA is a budget point of its own
(the default sweep: N4..N32 at the spec's grace, and grace 10 and 20 at the spec's samples).
TPE shares this scheduler and so this grace period; HyperBand has none (its brackets set
their own first rung).
"""

from __future__ import annotations

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from harness.strategies.common import (
    Strategy,
    StrategyContext,
    count_of,
    knobs_sweep,
    sampled_search,
    sampled_space,
    search_range_configs,
)

NAME = "asha"
#: the budget knobs of an ASHA-scheduled search: samples, then the grace period (patience)
BUDGET_KNOBS = (("asha_samples", "N", (4, 8, 16, 32)), ("asha_grace_period", "grace", (2, 10, 20)))


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
    budget_fields=tuple(field for field, _, _ in BUDGET_KNOBS),
    sweep_points=knobs_sweep(*BUDGET_KNOBS),
    preflight_configs=search_range_configs(NAME),
    describe_space=sampled_space("asha_samples"),
)
