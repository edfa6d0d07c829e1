"""pb2: Population Based Bandits (Parker-Holder et al., NeurIPS 2020), Ray Tune's PB2: PBT
whose explore step picks new rho values with a GP bandit (scikit-learn) instead of random
perturbation, with PBT's population, interval and synchronous exploit.

Pinned: as `pbt` (population, interval, quantile 0.25, synch, checkpoint at every interval),
bounds = the search range per searched rho (PB2 explores linearly inside them). Its GP and
its draws use numpy's global generator, so every decision runs with the run's own seeded
state (`SeededScheduler`): two runs with the same seed propose the same configs. Like PBT
it is not restorable with Ray 2.60 (resume restarts it).
"""

from __future__ import annotations

import warnings
from typing import Any

from ray import tune
from ray.tune.schedulers.pb2 import PB2

from harness.strategies._keep_members import KeepMembers
from harness.strategies.common import (
    SAMPLER_SEED_OFFSET,
    SeededScheduler,
    Strategy,
    StrategyContext,
    count_of,
    count_sweep,
    search_range_configs,
)
from harness.strategies.pbt import population_search

NAME = "pb2"


class SeededPB2(KeepMembers, SeededScheduler, PB2):
    """PB2 whose GP fits and draws come from the run's seed. The GP's optimiser warns when a
    length scale hits its bound (common with a handful of points); that is the bandit's
    business, not the user's, so those warnings stay inside."""

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return super().on_trial_result(tune_controller, trial, result)

    def _save_trial_state(self, state: Any, time: int, result: dict, trial: Any) -> Any:
        """PB2 appends each result to its GP's data in arrival order, and members reaching
        a barrier arrive in whatever order their processes run: kept in (time, trial)
        order, the fit does not depend on that race (it moved proposals by 1e-6)."""
        score = super()._save_trial_state(state, time, result, trial)
        self.data = self.data.sort_values(["Time", "Trial"], kind="stable").reset_index(drop=True)
        return score


def scheduler(ctx: StrategyContext) -> PB2:
    spec = ctx.spec
    low, high = spec.search_range()
    names = spec.layer_names()
    bounds = {n: [low, high] for n in names} if names else [low, high]
    return SeededPB2(
        seed=SAMPLER_SEED_OFFSET + ctx.seed,
        time_attr="training_iteration",
        perturbation_interval=spec.perturbation_interval,
        hyperparam_bounds={"rho": bounds},
        quantile_fraction=spec.pbt_quantile,
        synch=True,
    )


def build(ctx: StrategyContext) -> tune.Tuner:
    return population_search(ctx, scheduler(ctx))



STRATEGY = Strategy(
    name=NAME,
    description="population based bandits: PBT with a GP-bandit explore step",
    learns_rho=False,
    build=build,
    expected_trials=count_of("pbt_population"),
    budget_fields=("pbt_population",),
    sweep_points=count_sweep("pbt_population", "P", (2, 4, 8, 16)),
    restorable=False,  # a synchronous PBT scheduler: Tuner.restore hangs in Ray 2.60
    preflight_configs=search_range_configs(NAME),
)
