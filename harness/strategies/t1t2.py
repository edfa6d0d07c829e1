"""t1t2: one run per seed whose rho is learned by the hypergradient through the last theta step
(Luketina, Berglund, Greff & Raiko, "Scalable Gradient-Based Tuning of Continuous
Regularization Hyperparameters", ICML 2016), the single-run method closest to cross-reg.

Its trial is cross_reg's with mode='t1t2' (`trainables.engine`): the same regularization
split, the same rho step every r theta steps on the same draw of the split, the same rho
optimiser and learning rate, and the same starting rho (the spec's `rho_init`). The gradient
and its loss differ. cross_reg takes the partial dL_val/drho with theta fixed, L_val the loss
of the regularized (noisy, K-sample) model; t1t2 takes -lr (dL_val/dtheta')^T dg/drho, g being
the last theta step's gradient, theta' = theta - lr g (the paper's one-step SGD
approximation) and L_val the unregularized loss of theta' (one clean forward, as in the
paper), so rho acts only through the weights it moves. That is why it also learns a penalty
weight outside the forward pass (family ``l2_penalty``), and why its rho step costs more
FLOPs than cross_reg's: a backward to every weight of theta' and a double backward through
the theta step (``flops_reg``), though fewer forward passes (``fwd_reg``: B, not K x B).

Pinned: everything as cross_reg (the spec's r, K, rho_lr, rho_optimizer, rho_init); the inner
step's learning rate is the theta optimiser's `lr`, whatever the optimiser. Sweeps vary (r, K)
and the rho settings (rho_lr, rho_init, noise_at) as cross_reg's do. A family whose training
gradient does not depend on rho (dropout, concrete_dropout, pair) is refused by the preflight
in one line.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from harness.experiments import ExperimentSpec
from harness.strategies.common import Strategy, StrategyContext, single_run
from harness.strategies.cross_reg import BUDGET_FIELDS, sweep_points

NAME = "t1t2"
MODE = "t1t2"


def _trial(spec: ExperimentSpec) -> dict[str, Any]:
    """What its trial sets: mode=t1t2, rho starting at the spec's `rho_init` per layer."""
    return {"mode": MODE, "rho": spec.per_layer(spec.rho_init)}


def build(ctx: StrategyContext) -> tune.Tuner:
    return single_run(ctx, **_trial(ctx.spec))


def expected_trials(spec: ExperimentSpec) -> int:
    return 1


def preflight_configs(spec: ExperimentSpec, seed: int) -> list[dict[str, Any]]:
    return [spec.trial_config(NAME, seed, learned=False, **_trial(spec))]


STRATEGY = Strategy(
    name=NAME,
    description="one run per seed, rho learned by the hypergradient through the last theta step "
                "(Luketina et al. 2016)",
    # False although it learns rho: learns_rho=True means "cross_reg's trial" to the harness (the
    # base config in mode cross_reg, and the sweep's cost reference); it sets its own mode and rho
    learns_rho=False,
    build=build,
    expected_trials=expected_trials,
    budget_fields=BUDGET_FIELDS,  # cross_reg's: the same settings, the same treatment
    sweep_points=sweep_points,
    preflight_configs=preflight_configs,
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
