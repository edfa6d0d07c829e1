"""cross_reg: one run per seed that learns rho on the regularization split (the method)."""

from __future__ import annotations

from harness.strategies.common import BuiltStrategy, StrategyContext, single_run

STRATEGY = "cross_reg"


def build(ctx: StrategyContext) -> BuiltStrategy:
    """A single trial in mode=cross_reg, rho starting at the spec's `rho_init` per layer."""
    return single_run(ctx, STRATEGY)
