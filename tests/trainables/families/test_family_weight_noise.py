"""The weight_noise family: multiplicative Gaussian weight noise sampled per output by the local
reparameterisation (the same distribution as a weight sample per example), exact plain
training at std = 0, its domain, and learned std that rises where a wide MLP overfits and falls
where a narrow one underfits (MNIST-1D, as the noise family's direction tests)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.families.weight_noise import WeightNoiseFamily

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 2, "epochs": 2,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
             "family": "weight_noise"}
DIRECTION = {"dataset": "mnist1d", "model": "mlp", "batch_size": 100, "reg_batch_size": 100,
                 "family": "weight_noise", "mode": "cross_reg", "K": 4, "r": 1, "rho_lr": 1e-2,
                 "seed": 0}


def test_declaration_and_names() -> None:
    family = families.get("weight_noise")
    assert family.learnable and family.stochastic and family.search_range == (0.1, 2.0)
    assert rho_names({**SMALL, "rho": 0.1}) == ("stdw_0", "stdw_1", "stdw_2")
    cnn = {**SMALL, "model": "cnn", "depth": 3, "rho": 0.1}
    assert rho_names(cnn) == ("stdw_0", "stdw_1", "stdw_2", "stdw_3")


def test_std_zero_is_plain_training_bit_for_bit(assert_plain_training, assert_not_plain_training):
    rows = assert_plain_training({**SMALL, "rho": 0.0})
    assert [k for k in rows[-1] if k.startswith("rho/")] == ["rho/stdw_0", "rho/stdw_1",
                                                             "rho/stdw_2"]
    assert_not_plain_training({**SMALL, "rho": {"stdw_0": 0.0, "stdw_1": 0.0, "stdw_2": 0.5}})


def test_rho_columns_in_the_rows_fixed_and_learned() -> None:
    fixed = run_trial({**SMALL, "rho": 0.4})
    assert [r["rho/stdw_2"] for r in fixed] == [pytest.approx(0.4)] * SMALL["epochs"]
    learned = run_trial({**SMALL, "mode": "cross_reg", "rho": 0.5, "rho_lr": 0.05})
    assert learned[-1]["fwd_reg"] > 0
    assert learned[-1]["rho/stdw_1"] != pytest.approx(0.5, rel=1e-4)


@pytest.mark.parametrize("layer, shape", [
    (nn.Linear(6, 3), (6,)),
    (nn.Conv1d(2, 3, 3, stride=2, padding=1), (2, 7)),
    (nn.Conv2d(2, 3, 3, padding=1), (2, 4, 4)),
])
def test_output_noise_has_the_moments_of_noisy_weights(layer, shape) -> None:
    """One input, many draws: the mean is the noiseless output and the variance that of
    w(1 + std eps) with eps independent per weight, std^2 (x^2)(W^2)^T."""
    torch.manual_seed(0)
    x = torch.randn(1, *shape)
    clean = layer(x).detach()
    family = WeightNoiseFamily([layer], [0.3], ["stdw_0"], learned=True,
                               generator=torch.Generator().manual_seed(1))
    n = 20000
    out = layer(x.expand(n, *shape))
    w2 = layer.weight.detach() ** 2
    expected_var = 0.09 * (nn.functional.linear(x * x, w2) if isinstance(layer, nn.Linear)
                           else layer._conv_forward(x * x, w2, None)).detach()
    assert torch.allclose(out.detach().mean(0), clean[0], atol=0.02)
    assert torch.allclose(out.detach().var(0), expected_var[0], rtol=0.06, atol=1e-4)
    (grad,) = torch.autograd.grad(out.pow(2).mean(), [family.log_std])
    assert float(grad) > 0
    assert family.eval_samples(4) == 4


@pytest.mark.parametrize("config, match", [
    ({"rho": -0.5}, r"rho=-0.5: must be >= 0 \(family 'weight_noise'\)"),
    ({"rho": 0.0, "mode": "cross_reg"}, r"rho=0.0: cross_reg learns it in log space"),
    ({"rho": {"stdw_0": 0.1}}, r"must name exactly \['stdw_0', 'stdw_1', 'stdw_2'\]"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config})


@pytest.mark.slow
def test_std_rises_where_a_wide_mlp_overfits() -> None:
    rows = run_trial({**DIRECTION, "width": 512, "depth": 2, "n_train": 1000, "rho": 0.1,
                      "epochs": 20})
    assert rows[-1]["train_acc"] > rows[-1]["val_acc"] + 0.2  # it does overfit
    # the 512x512 layer, from 0.1 (seeds 0-2: 0.46, 0.45, 0.51; the first layer 0.39, 0.25,
    # 0.18; the head stays near 0.09)
    assert rows[-1]["rho/stdw_1"] > 0.25


@pytest.mark.slow
def test_std_falls_where_a_narrow_mlp_underfits() -> None:
    rows = run_trial({**DIRECTION, "width": 16, "depth": 1, "n_train": 2000, "rho": 0.5,
                      "epochs": 10})
    assert rows[-1]["train_acc"] < 0.6  # it cannot even fit the training split
    # both layers, from 0.5 (seeds 0-2: 0.16/0.18, 0.17/0.19, 0.21/0.21)
    assert rows[-1]["rho/stdw_0"] < 0.3 and rows[-1]["rho/stdw_1"] < 0.3
