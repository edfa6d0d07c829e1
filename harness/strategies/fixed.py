"""fixed: one run with rho frozen at the spec's `fixed_rho` (0 = the unregularised baseline)."""

from __future__ import annotations

from ray import tune

from harness.strategies.common import (
    BuiltStrategy,
    StrategyContext,
    base_config,
    run_config,
    tune_config,
)

STRATEGY = "fixed"


def build(ctx: StrategyContext) -> BuiltStrategy:
    """A single trial in mode=fixed: what every search tunes, at one pinned value."""
    config = base_config(ctx, STRATEGY, role="single", rho=ctx.spec.per_layer(ctx.spec.fixed_rho))
    tuner = tune.Tuner(
        ctx.trainable,
        param_space=config,
        tune_config=tune_config(num_samples=1),
        run_config=run_config(ctx, STRATEGY),
    )
    return BuiltStrategy(tuner, expected_trials=1)
