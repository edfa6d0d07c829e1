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

from typing import TYPE_CHECKING

from ray import tune

from analysis.contract import TRAINING_ITERATION
from harness.strategies.common import (
    SAMPLER_SEED_OFFSET,
    Strategy,
    StrategyContext,
    count_of,
    knobs_sweep,
    sampled_space,
    search_range_configs,
)
from harness.strategies.pbt import BUDGET_KNOBS, population_search

NAME = "pb2"

if TYPE_CHECKING:
    from ray.tune.schedulers.pb2 import PB2


def scheduler(ctx: StrategyContext) -> PB2:
    # imported here: Ray's PB2 imports scikit-learn (1.2 s), and every process that lists
    # the strategies (a Tuner's driver task, the CLI) would pay for it
    from harness.strategies._seeded_pb2 import SeededPB2

    spec = ctx.spec
    space = spec.search_space()  # the declared space; PB2 explores linearly inside it
    bounds = {n: [space.low, space.high] for n in space.names} if space.names \
        else [space.low, space.high]
    return SeededPB2(
        seed=SAMPLER_SEED_OFFSET + ctx.seed,
        time_attr=TRAINING_ITERATION,
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
    budget_fields=tuple(field for field, _, _ in BUDGET_KNOBS),
    sweep_points=knobs_sweep(*BUDGET_KNOBS),
    describe_space=sampled_space("pbt_population"),
    restorable=False,  # a synchronous PBT scheduler: Tuner.restore hangs in Ray 2.60
    restart_note="Ray cannot restore a synchronous PBT",
    preflight_configs=search_range_configs(NAME),
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
