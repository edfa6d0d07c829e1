"""The noise family: one sigma per noise point of whatever model it is given, its domain, and
exact plain training at sigma = 0 on a user's model with attached points."""

from __future__ import annotations

import pytest
import torch

from trainables import ConfigError, check_config, families, rho_names
from trainables.trial import Trial

SMALL = {"dataset": "digits", "n_train": 120, "epochs": 2, "batch_size": 32, "reg_batch_size": 16,
             "eval_batch_size": 256, "seed": 2}


@pytest.mark.parametrize("model, extra, n_points", [
    ("mlp", {"depth": 1}, 1),
    ("mlp", {"depth": 3, "norm": False}, 3),  # the MLP's own points, normalised or not
    ("cnn", {}, 3),
    ("vgg16", {"dataset": "cifar10"}, 13),
    ("resnet18", {"dataset": "cifar10"}, 20),
])
def test_one_sigma_per_noise_point_in_forward_order(model, extra, n_points) -> None:
    names = rho_names({"family": "noise", "model": model, **extra})  # no data files needed
    assert names == tuple(f"sigma_{i}" for i in range(n_points))


@pytest.mark.parametrize("model, extra", [("mlp", {"depth": 0}), ("linear", {})])
def test_a_model_without_points_or_norms_is_refused(model, extra) -> None:
    with pytest.raises(ConfigError, match="family='noise' needs noise points"):
        check_config({"family": "noise", "model": model, "rho": 0.1, **extra})


def test_domain() -> None:
    family = families.get("noise")
    assert family.learnable and family.stochastic and family.search_range == (1e-2, 3.0)
    with pytest.raises(ConfigError, match=r"rho=-0.1: must be >= 0"):
        check_config({"family": "noise", "rho": -0.1})
    with pytest.raises(ConfigError, match=r"rho=0.0: cross_reg learns it in log space"):
        check_config({"family": "noise", "mode": "cross_reg", "rho": 0.0})
    with pytest.raises(ConfigError, match=r"rho=.*must name exactly \['sigma_0', 'sigma_1'\]"):
        check_config({"family": "noise", "depth": 2, "rho": {"sigma_0": 0.1}})


def test_sigma_zero_on_a_users_model_is_plain_training_bit_for_bit(user_package) -> None:
    pkg = user_package()
    config = {**SMALL, "model": f"{pkg}.mod:build"}
    noisy_zero = Trial({**config, "family": "noise", "mode": "fixed", "rho": 0.0})
    plain = Trial({**config, "family": "none"})
    noisy = Trial({**config, "family": "noise", "mode": "fixed", "rho": 0.3})
    for _ in range(SMALL["epochs"]):
        noisy_zero.run_epoch(), plain.run_epoch(), noisy.run_epoch()
    zero, reference, moved = (t.model.state_dict() for t in (noisy_zero, plain, noisy))
    assert list(zero) == list(reference)  # attaching points changed no key
    assert all(torch.equal(zero[k], reference[k]) for k in reference)
    assert not all(torch.equal(moved[k], reference[k]) for k in reference)
