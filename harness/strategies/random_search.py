"""random: N per-layer rho configurations drawn log-uniformly from the run's seed and each
run to the end (no early stopping); the final model is the best by validation at the last
epoch (Bergstra & Bengio, JMLR 2012: random search is the baseline every tuner must beat).
Pinned: num_samples = the spec's `random_samples` (16), FIFO scheduling.
"""

from __future__ import annotations

from ray import tune

from harness.strategies.common import (
    Strategy,
    StrategyContext,
    count_of,
    count_sweep,
    sampled_search,
    sampled_space,
    search_range_configs,
)

NAME = "random"


def build(ctx: StrategyContext) -> tune.Tuner:
    return sampled_search(ctx, None, ctx.spec.random_samples)


STRATEGY = Strategy(
    name=NAME,
    description="N sampled per-layer configs, each run to the end, best by validation",
    learns_rho=False,
    build=build,
    expected_trials=count_of("random_samples"),
    budget_fields=("random_samples",),
    sweep_points=count_sweep("random_samples", "N", (4, 8, 16, 32)),
    preflight_configs=search_range_configs(NAME),
    describe_space=sampled_space("random_samples"),
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
