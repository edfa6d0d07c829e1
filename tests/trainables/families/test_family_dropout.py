"""The dropout family: one drop probability per dropout site, inverted Bernoulli masks from the
regularizer's generator in training mode only, exact plain training at p = 0, its domain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.families.dropout import DropoutFamily

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 2, "epochs": 2,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
             "family": "dropout"}


@pytest.mark.parametrize("model, extra, n_sites", [
    ("mlp", {"depth": 1}, 1),
    ("mlp", {"depth": 3}, 3),
    ("cnn", {}, 3),
    ("resmlp", {"depth": 2}, 2),
    ("resnet18", {"dataset": "cifar10"}, 1),  # one before the head
])
def test_one_probability_per_dropout_site(model, extra, n_sites) -> None:
    names = rho_names({"family": "dropout", "model": model, **extra})
    assert names == tuple(f"p_{i}" for i in range(n_sites))


def test_declaration() -> None:
    family = families.get("dropout")
    assert not family.learnable and not family.stochastic
    assert family.search_range == (0.05, 0.7)
    assert "not learnable" in family.description


def test_p_zero_is_plain_training_bit_for_bit(assert_plain_training, assert_not_plain_training):
    rows = assert_plain_training({**SMALL, "rho": 0.0})
    assert [k for k in rows[-1] if k.startswith("rho/")] == ["rho/p_0", "rho/p_1"]
    assert_not_plain_training({**SMALL, "rho": {"p_0": 0.0, "p_1": 0.5}})


def test_rho_columns_in_the_rows() -> None:
    rows = run_trial({**SMALL, "rho": {"p_0": 0.2, "p_1": 0.4}})
    assert [(r["rho/p_0"], r["rho/p_1"]) for r in rows] == [(0.2, 0.4)] * SMALL["epochs"]


def _site(p: float, seed: int) -> tuple[nn.Dropout, DropoutFamily]:
    site = nn.Dropout(0.0)  # the model's own site, p = 0: all the dropping is the family's
    return site, DropoutFamily([site], [p], ["p_0"], torch.Generator().manual_seed(seed))


def test_masks_are_inverted_bernoulli_in_training_only_and_from_the_generator() -> None:
    x = torch.rand(200, 50) + 0.5
    site, family = _site(0.25, seed=0)
    rng = torch.random.get_rng_state()
    out = site(x)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the global generator is untouched
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / 0.75)
    assert abs(1 - float(kept.float().mean()) - 0.25) < 0.02
    assert torch.equal(_site(0.25, seed=0)[0](x), out)  # the generator decides the mask
    assert not torch.equal(_site(0.25, seed=1)[0](x), out)
    site.eval()
    assert torch.equal(site(x), x)  # evaluation: the full network, unscaled
    assert family.eval_samples(8) == 1


@pytest.mark.parametrize("rho, match", [
    (1.0, r"rho=1.0: must lie in \[0, 1\) \(a drop probability\) \(family 'dropout'\)"),
    (-0.1, r"rho=-0.1: must lie in \[0, 1\)"),
    ({"p_0": 0.1, "p_1": 1.5}, r"rho\['p_1'\]=1.5: must lie in \[0, 1\)"),
    ({"p_0": 0.1}, r"must name exactly \['p_0', 'p_1'\]"),
])
def test_bad_values_are_one_clear_error(rho, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, "rho": rho})


def test_refusals() -> None:
    with pytest.raises(ConfigError, match="has no rho that cross_reg can learn"):
        check_config({**SMALL, "mode": "cross_reg", "rho": 0.1})
    with pytest.raises(ConfigError, match=r"dropout=0.3: family 'dropout' sets what happens"):
        check_config({**SMALL, "dropout": 0.3, "rho": 0.1})
    with pytest.raises(ConfigError, match="the model has none"):
        check_config({**SMALL, "model": "linear", "rho": 0.1})
