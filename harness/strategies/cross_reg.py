"""cross_reg: one run per seed that learns rho on the regularization split (the method)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ray import tune

from harness.experiments import ExperimentSpec
from harness.strategies.common import Strategy, StrategyContext, single_run

NAME = "cross_reg"


def build(ctx: StrategyContext) -> tune.Tuner:
    """A single trial in mode=cross_reg, rho starting at the spec's `rho_init` per layer."""
    return single_run(ctx)


#: the (r, K) points of a sweep: from the paper's setting (r=1, K=4) to a tenth of its
#: overhead (K/r = 0.1), where its "about 10% overhead" claim lives
SWEEP_R_K = ((1, 4), (4, 4), (10, 4), (10, 1), (40, 4))


def sweep_points(spec: ExperimentSpec, budgets: Mapping[str, Sequence[Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The default (r, K) pairs, or every pair of the sweep's `r` and `K` values (a value
    missing from the sweep is the spec's own); the spec's own pair is always included."""
    if "r" in budgets or "K" in budgets:
        pairs = [(int(r), int(k)) for r in budgets.get("r", (spec.trial.r,))
                 for k in budgets.get("K", (spec.trial.K,))]
    else:
        pairs = list(SWEEP_R_K)
    own = (spec.trial.r, spec.trial.K)
    if own not in pairs:
        pairs.insert(0, own)
    return [(f"r{r}K{k}", {"r": r, "K": k}) for r, k in pairs]


def expected_trials(spec: ExperimentSpec) -> int:
    return 1


STRATEGY = Strategy(
    name=NAME,
    description="one run per seed, rho learned on the regularization split",
    learns_rho=True,
    build=build,
    expected_trials=expected_trials,
    budget_fields=("r", "K"),
    sweep_points=sweep_points,
)
