"""fixed: one run with rho frozen at the spec's `fixed_rho` (0 = the unregularised baseline)."""

from __future__ import annotations

from harness.strategies.common import BuiltStrategy, StrategyContext, single_run

STRATEGY = "fixed"


def build(ctx: StrategyContext) -> BuiltStrategy:
    """A single trial in mode=fixed: what every search tunes, at one pinned value."""
    return single_run(ctx, STRATEGY, rho=ctx.spec.per_layer(ctx.spec.fixed_rho))
