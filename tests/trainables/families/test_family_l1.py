"""The l1 family: the L1 norm of every Linear weight held at its rho, and learned across."""

from __future__ import annotations

import pytest
from torch import nn

from trainables import families, rho_names
from trainables.trial import Trial

CONFIG = {"dataset": "digits", "n_train": 120, "model": "linear", "epochs": 2, "batch_size": 32,
              "reg_batch_size": 32, "seed": 5, "family": "l1"}


def test_one_rho_per_linear_weight() -> None:
    assert rho_names(CONFIG) == ("l1_0",)
    assert rho_names({**CONFIG, "model": "mlp", "depth": 2}) == ("l1_0", "l1_1", "l1_2")
    family = families.get("l1")
    assert family.learnable and not family.stochastic


def test_fixed_rho_is_the_norm_of_the_trained_weight() -> None:
    trial = Trial({**CONFIG, "mode": "fixed", "rho": 2.0})
    for _ in range(2):
        trial.run_epoch()
    (layer,) = [m for m in trial.model.modules() if isinstance(m, nn.Linear)]
    assert float(layer.weight.detach().abs().sum()) == pytest.approx(2.0, rel=1e-5)


def test_cross_reg_moves_rho_and_the_norm_follows() -> None:
    trial = Trial({**CONFIG, "mode": "cross_reg", "rho": 2.0, "rho_lr": 0.1})
    for _ in range(2):
        row = trial.run_epoch()
    (layer,) = [m for m in trial.model.modules() if isinstance(m, nn.Linear)]
    assert row["rho/l1_0"] != pytest.approx(2.0, rel=1e-3)
    assert float(layer.weight.detach().abs().sum()) == pytest.approx(row["rho/l1_0"], rel=1e-5)
