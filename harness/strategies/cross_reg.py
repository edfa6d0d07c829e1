"""cross_reg: one run per seed that learns rho on the regularization split (the method)."""

from __future__ import annotations

from ray import tune

from harness.strategies.common import (
    BuiltStrategy,
    StrategyContext,
    base_config,
    run_config,
    tune_config,
)

STRATEGY = "cross_reg"


def build(ctx: StrategyContext) -> BuiltStrategy:
    """A single trial in mode=cross_reg, rho starting at the spec's `rho_init` per layer."""
    config = base_config(ctx, STRATEGY, role="single")
    tuner = tune.Tuner(
        ctx.trainable,
        param_space=config,
        tune_config=tune_config(num_samples=1),
        run_config=run_config(ctx, STRATEGY),
    )
    return BuiltStrategy(tuner, expected_trials=1)
