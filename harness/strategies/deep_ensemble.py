"""deep_ensemble: M networks trained from M seeds with rho frozen at `fixed_rho`, predicting
with the mean of their probabilities (Lakshminarayanan et al., NeurIPS 2017): the
calibration baseline of the paper's table, and what a "pay M times the compute" answer buys.

One trial per seed that trains all M members epoch by epoch (`members=M` in the trial
config): member 0 is exactly the `fixed` strategy's run, the others draw their seeds from
(seed, m), and the rows report the ensemble's metrics and the sum of the members' costs.
Pinned: M = the spec's `ensemble_members` (5, as in the paper's table).
"""

from __future__ import annotations

from typing import Any

from ray import tune

from harness.experiments import ExperimentSpec
from harness.strategies.common import (
    Strategy,
    StrategyContext,
    count_sweep,
    final_split,
    single_run,
)

NAME = "deep_ensemble"
#: it only trains: under the full_pool protocol its model trains on the whole pool
NEEDS_HOLDOUT = False


def build(ctx: StrategyContext) -> tune.Tuner:
    spec = ctx.spec
    return single_run(ctx, rho=spec.per_layer(spec.fixed_rho), members=spec.ensemble_members)


def expected_trials(spec: ExperimentSpec) -> int:
    return 1


def preflight_configs(spec: ExperimentSpec, seed: int) -> list[dict[str, Any]]:
    return [spec.trial_config(NAME, seed, learned=False, rho=spec.per_layer(spec.fixed_rho),
                              members=spec.ensemble_members,
                              **final_split(spec, NEEDS_HOLDOUT))]


STRATEGY = Strategy(
    name=NAME,
    description="M fixed runs from M seeds, mean probability (M = ensemble_members)",
    learns_rho=False,
    build=build,
    expected_trials=expected_trials,
    budget_fields=("ensemble_members",),
    sweep_points=count_sweep("ensemble_members", "M", (2, 3, 5)),
    preflight_configs=preflight_configs,
    needs_holdout=NEEDS_HOLDOUT,
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
