"""cross_reg: one run per seed that learns rho on the regularization split (the method)."""

from __future__ import annotations

from ray import tune

from harness.experiments import ExperimentSpec
from harness.strategies.common import Strategy, StrategyContext, single_run

NAME = "cross_reg"


def build(ctx: StrategyContext) -> tune.Tuner:
    """A single trial in mode=cross_reg, rho starting at the spec's `rho_init` per layer."""
    return single_run(ctx)


def expected_trials(spec: ExperimentSpec) -> int:
    return 1


STRATEGY = Strategy(
    name=NAME,
    description="one run per seed, rho learned on the regularization split",
    learns_rho=True,
    build=build,
    expected_trials=expected_trials,
    budget_fields=("r", "K"),
)
