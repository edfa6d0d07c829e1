"""concrete_dropout: one run per seed with concrete dropout (Gal, Hron & Kendall, "Concrete
Dropout", NeurIPS 2017): a dropout rate per Linear layer, learned with the weights on the
training objective plus the paper's KL term, through the relaxed Bernoulli (concrete) mask.
The single-run rival that learns its regularization without held-out data.

Its trial replaces the spec's family by ``concrete_dropout`` (`trainables.families.
concrete_dropout`: temperature 0.1, length-scale 1e-4, N the training split's size, MC
predictions over K samples) in mode='fixed' (no rho optimiser: the rates are theta's), on the
same split, seed, model, optimiser and epochs as every other strategy. Like fixed, it holds the
regularization split out of training (every strategy trains on the same rows) and uses it only
for the reported validation metrics and the fitted temperature.

Pinned: every rate starts at 0.1 (`INITIAL_RATE`, init_min = init_max = 0.1 in the authors'
code). The spec's model must have Linear layers and leave its own ``dropout`` at 0 (else the
preflight refuses it in one line). Rows report the learned rates as ``rho/p_i``.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from harness.experiments import ExperimentSpec
from harness.strategies.common import Strategy, StrategyContext, final_split, single_run

NAME = "concrete_dropout"
#: it only trains: under the full_pool protocol its model trains on the whole pool
NEEDS_HOLDOUT = False
FAMILY = "concrete_dropout"
INITIAL_RATE = 0.1


def build(ctx: StrategyContext) -> tune.Tuner:
    return single_run(ctx, family=FAMILY, rho=INITIAL_RATE)


def expected_trials(spec: ExperimentSpec) -> int:
    return 1


def preflight_configs(spec: ExperimentSpec, seed: int) -> list[dict[str, Any]]:
    return [spec.trial_config(NAME, seed, learned=False, family=FAMILY, rho=INITIAL_RATE,
                              **final_split(spec, NEEDS_HOLDOUT))]


STRATEGY = Strategy(
    name=NAME,
    description="one run per seed, per-layer dropout rates learned on the training objective "
                "(Gal et al. 2017)",
    learns_rho=False,
    build=build,
    expected_trials=expected_trials,
    preflight_configs=preflight_configs,
    needs_holdout=NEEDS_HOLDOUT,
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
