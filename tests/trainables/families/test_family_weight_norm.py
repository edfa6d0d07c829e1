"""The weight_norm family: every weight's norm held at rho times its initial norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import families, rho_names
from trainables.models import build_model
from trainables.trial import Trial

CONFIG = {"dataset": "digits", "n_train": 120, "model": "mlp", "width": 16, "depth": 2, "norm": False,
              "epochs": 2, "batch_size": 32, "seed": 4, "family": "weight_norm"}


def test_one_g_per_linear_or_conv_weight() -> None:
    assert rho_names(CONFIG) == ("g_0", "g_1", "g_2")
    assert rho_names({**CONFIG, "model": "cnn", "depth": 3}) == ("g_0", "g_1", "g_2", "g_3")
    family = families.get("weight_norm")
    assert family.learnable and not family.stochastic and family.search_range == (0.1, 10.0)


def test_fixed_g_holds_each_norm_at_its_multiple_of_the_initial_norm() -> None:
    torch.manual_seed(CONFIG["seed"])  # the trial's init: the oracle's initial norms
    initial = [float(m.weight.detach().norm()) for m in build_model("mlp", (1, 8, 8), 10, width=16, depth=2,
                                                           norm=False).modules()
               if isinstance(m, nn.Linear)]
    rho = {"g_0": 0.5, "g_1": 2.0, "g_2": 1.0}
    trial = Trial({**CONFIG, "mode": "fixed", "rho": rho})
    for _ in range(2):
        row = trial.run_epoch()
    layers = [m for m in trial.model.modules() if isinstance(m, nn.Linear)]
    for i, layer in enumerate(layers):
        assert float(layer.weight.detach().norm()) == pytest.approx(rho[f"g_{i}"] * initial[i], rel=1e-5)
        assert row[f"rho/g_{i}"] == pytest.approx(rho[f"g_{i}"], rel=1e-6)
