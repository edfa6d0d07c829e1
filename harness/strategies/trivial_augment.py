"""trivial_augment: one run per seed with TrivialAugment (Müller & Hutter, "TrivialAugment:
Tuning-free Yet State-of-the-Art Data Augmentation", ICCV 2021) and nothing tuned: what a
user gets from a strong default augmentation instead of a search.

Its trial is the `fixed` strategy's with rho at 0 for the spec's family (unregularised) and
``trivial_augment=True`` (`trainables.trivial_augment`: torchvision's TrivialAugmentWide,
its defaults, one operation per image on every theta step, drawn from the run's own stream;
images under 32 px, the 8x8 digits, are augmented at 32 px and pooled back), on the same split,
seed, model, optimiser and epochs as every other strategy.

Pinned: rho = 0 (not the spec's `fixed_rho`: the augmentation is the only regularizer), the
TrivialAugmentWide defaults. Image datasets only (C, H, W with 1 or 3 channels): the
preflight refuses any other (MNIST-1D, tabular sets) in one line.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from harness.experiments import ExperimentSpec
from harness.strategies.common import Strategy, StrategyContext, final_split, single_run

NAME = "trivial_augment"
#: it only trains: under the full_pool protocol its model trains on the whole pool
NEEDS_HOLDOUT = False
RHO = 0.0


def build(ctx: StrategyContext) -> tune.Tuner:
    return single_run(ctx, rho=ctx.spec.per_layer(RHO), trivial_augment=True)


def expected_trials(spec: ExperimentSpec) -> int:
    return 1


def preflight_configs(spec: ExperimentSpec, seed: int) -> list[dict[str, Any]]:
    return [spec.trial_config(NAME, seed, learned=False, rho=spec.per_layer(RHO),
                              trivial_augment=True,
                              **final_split(spec, NEEDS_HOLDOUT))]


STRATEGY = Strategy(
    name=NAME,
    description="one run per seed, TrivialAugmentWide on the training images, nothing tuned "
                "(Mueller & Hutter 2021)",
    learns_rho=False,
    build=build,
    expected_trials=expected_trials,
    preflight_configs=preflight_configs,
    needs_holdout=NEEDS_HOLDOUT,
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
