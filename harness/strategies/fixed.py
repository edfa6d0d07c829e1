"""fixed: one run with rho frozen at the spec's `fixed_rho` (0 = the unregularised baseline).

No paper: the untuned training run every method is measured against (no reference).
"""

from __future__ import annotations

from typing import Any

from ray import tune

from harness.experiments import ExperimentSpec
from harness.strategies.common import Strategy, StrategyContext, final_split, single_run

NAME = "fixed"
#: it only trains: under the full_pool protocol its model trains on the whole pool
NEEDS_HOLDOUT = False


def build(ctx: StrategyContext) -> tune.Tuner:
    """A single trial in mode=fixed: what every search tunes, at one pinned value."""
    return single_run(ctx, rho=ctx.spec.per_layer(ctx.spec.fixed_rho))


def expected_trials(spec: ExperimentSpec) -> int:
    return 1


def preflight_configs(spec: ExperimentSpec, seed: int) -> list[dict[str, Any]]:
    return [spec.trial_config(NAME, seed, learned=False, rho=spec.per_layer(spec.fixed_rho),
                              **final_split(spec, NEEDS_HOLDOUT))]


STRATEGY = Strategy(
    name=NAME,
    description="one run per seed with rho frozen at fixed_rho (0: unregularised)",
    learns_rho=False,
    build=build,
    expected_trials=expected_trials,
    preflight_configs=preflight_configs,
    needs_holdout=NEEDS_HOLDOUT,
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
