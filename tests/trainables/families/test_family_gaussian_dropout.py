"""The gaussian_dropout family: multiplicative noise x(1 + std eps) at each dropout site, exact
plain training at std = 0, its domain, and learned std that rises where a wide MLP overfits
and falls where a narrow one underfits (MNIST-1D, as the noise family's direction tests)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.families.gaussian_dropout import GaussianDropoutFamily

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 2, "epochs": 2,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
             "family": "gaussian_dropout"}
DIRECTION = {"dataset": "mnist1d", "model": "mlp", "batch_size": 100, "reg_batch_size": 100,
                 "family": "gaussian_dropout", "mode": "cross_reg", "K": 4, "r": 1, "rho_lr": 1e-2}


def test_declaration_and_names() -> None:
    family = families.get("gaussian_dropout")
    assert family.learnable and family.stochastic and family.search_range == (0.1, 2.0)
    assert rho_names({**SMALL, "rho": 0.1}) == ("std_0", "std_1")
    cnn = {**SMALL, "model": "cnn", "depth": 3, "rho": 0.1}
    assert rho_names(cnn) == ("std_0", "std_1", "std_2")


def test_std_zero_is_plain_training_bit_for_bit(assert_plain_training, assert_not_plain_training):
    rows = assert_plain_training({**SMALL, "rho": 0.0})
    assert [k for k in rows[-1] if k.startswith("rho/")] == ["rho/std_0", "rho/std_1"]
    assert_not_plain_training({**SMALL, "rho": {"std_0": 0.5, "std_1": 0.0}})


def test_rho_columns_in_the_rows_fixed_and_learned() -> None:
    fixed = run_trial({**SMALL, "rho": {"std_0": 0.2, "std_1": 0.7}})
    assert [(r["rho/std_0"], r["rho/std_1"]) for r in fixed] == [
        (pytest.approx(0.2), pytest.approx(0.7))] * SMALL["epochs"]
    learned = run_trial({**SMALL, "mode": "cross_reg", "rho": 0.5, "rho_lr": 0.05})
    assert learned[-1]["fwd_reg"] > 0
    assert learned[-1]["rho/std_0"] != pytest.approx(0.5, rel=1e-4)


def test_noise_is_multiplicative_with_the_given_std_and_differentiable() -> None:
    site = nn.Dropout(0.0)
    family = GaussianDropoutFamily([site], [0.5], ["std_0"], learned=True,
                                   generator=torch.Generator().manual_seed(0))
    x = torch.full((4000, 10), 2.0)
    site.eval()  # the noise stays on at evaluation: the prediction averages K samples
    out = site(x)
    assert float(out.detach().mean()) == pytest.approx(2.0, abs=0.02)
    assert float(out.detach().std()) == pytest.approx(2.0 * 0.5, rel=0.02)
    (grad,) = torch.autograd.grad(out.pow(2).mean(), [family.log_std])
    assert float(grad) > 0  # more noise, larger second moment
    assert family.eval_samples(4) == 4
    off = GaussianDropoutFamily([nn.Dropout(0.0)], [0.0], ["std_0"], learned=False, generator=None)
    assert off.eval_samples(4) == 1


@pytest.mark.parametrize("config, match", [
    ({"rho": -0.1}, r"rho=-0.1: must be >= 0 \(family 'gaussian_dropout'\)"),
    ({"rho": 0.0, "mode": "cross_reg"}, r"rho=0.0: cross_reg learns it in log space"),
    ({"rho": {"std_0": 0.1}}, r"must name exactly \['std_0', 'std_1'\]"),
    ({"rho": 0.1, "dropout": 0.2}, r"dropout=0.2: family 'gaussian_dropout' sets what happens"),
    ({"rho": 0.1, "model": "linear"}, r"family='gaussian_dropout' acts at the model's dropout"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config})


@pytest.mark.slow
def test_std_rises_where_a_wide_mlp_overfits() -> None:
    rows = run_trial({**DIRECTION, "width": 512, "depth": 2, "n_train": 1000, "rho": 0.1,
                      "epochs": 20, "seed": 0})
    assert rows[-1]["train_acc"] > rows[-1]["val_acc"] + 0.2  # it does overfit
    assert rows[-1]["rho/std_0"] > 0.2  # from 0.1 (seeds 0-2: 0.38, 0.27, 0.31)


@pytest.mark.slow
def test_std_falls_where_a_narrow_mlp_underfits() -> None:
    rows = run_trial({**DIRECTION, "width": 16, "depth": 1, "n_train": 2000, "rho": 0.5,
                      "epochs": 10, "seed": 0})
    assert rows[-1]["train_acc"] < 0.6  # it cannot even fit the training split
    assert rows[-1]["rho/std_0"] < 0.3  # from 0.5 (seeds 0-2: 0.18, 0.18, 0.20)
