"""The l2_penalty family: weight decay (wd/2)|W|^2 on the training loss with wd as rho, exact
plain training at wd = 0, the penalty's value, and its refusal under cross_reg (its rho is not
in the forward pass; mode='t1t2' learns it: test_t1t2.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import ConfigError, check_config, families, rho_names
from trainables.families.l2_penalty import L2Penalty

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 2, "epochs": 2,
         "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
         "family": "l2_penalty"}


def test_declaration_and_names() -> None:
    family = families.get("l2_penalty")
    assert not family.learnable and family.t1t2_learnable and not family.stochastic
    assert rho_names({**SMALL, "rho": 1e-3}) == ("wd_0", "wd_1", "wd_2")
    assert rho_names({**SMALL, "rho": 1e-3, "model": "cnn", "depth": 2}) == ("wd_0", "wd_1", "wd_2")


def test_wd_zero_is_plain_training_bit_for_bit(assert_plain_training, assert_not_plain_training):
    rows = assert_plain_training({**SMALL, "rho": 0.0})
    assert rows[-1]["rho/wd_0"] == 0.0
    assert_not_plain_training({**SMALL, "rho": {"wd_0": 0.0, "wd_1": 0.1, "wd_2": 0.0}})


@pytest.mark.parametrize("learned", [False, True])
def test_the_penalty_is_half_wd_times_the_squared_weights(learned) -> None:
    layers = [nn.Linear(4, 3), nn.Conv2d(2, 5, 3)]
    reg = L2Penalty(layers, [0.2, 0.05], ["wd_0", "wd_1"], learned=learned)
    expected = 0.5 * 0.2 * float((layers[0].weight.detach() ** 2).sum()) + 0.5 * 0.05 * float(
        (layers[1].weight.detach() ** 2).sum())
    penalty = reg.train_penalty(100)
    assert penalty is not None and float(penalty.detach()) == pytest.approx(expected, rel=1e-6)
    (grad,) = torch.autograd.grad(penalty, [layers[0].weight])
    assert torch.allclose(grad, 0.2 * layers[0].weight)  # what SGD's weight_decay=0.2 adds
    assert reg.rho_parameters() == ([reg.log_wd] if learned else [])


@pytest.mark.parametrize("config, match", [
    ({"rho": 1e-3, "mode": "cross_reg"}, r"'l2_penalty' has no rho that cross_reg can learn"),
    ({"rho": 0.0, "mode": "t1t2"}, r"rho=0.0: cross_reg learns it in log space"),
    ({"rho": -1e-3}, r"rho=-0.001: must be >= 0"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config})
