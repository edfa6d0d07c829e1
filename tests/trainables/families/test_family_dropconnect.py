"""The dropconnect family: one weight drop probability per Linear / Conv layer, Bernoulli masks on
the weights in training mode only, exact plain training at p = 0, its domain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.families.dropconnect import DropConnectFamily
from trainables.trial import Trial

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 2, "epochs": 2,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
             "family": "dropconnect"}


def test_declaration_and_names() -> None:
    family = families.get("dropconnect")
    assert not family.learnable and not family.stochastic and family.search_range == (0.02, 0.5)
    assert "not learnable" in family.description
    assert rho_names({**SMALL, "rho": 0.1}) == ("pw_0", "pw_1", "pw_2")
    cnn = {**SMALL, "model": "cnn", "depth": 3, "rho": 0.1}
    assert rho_names(cnn) == ("pw_0", "pw_1", "pw_2", "pw_3")
    assert rho_names({**SMALL, "model": "linear", "rho": 0.1}) == ("pw_0",)


def test_p_zero_is_plain_training_bit_for_bit(assert_plain_training, assert_not_plain_training):
    rows = assert_plain_training({**SMALL, "rho": 0.0})
    assert [k for k in rows[-1] if k.startswith("rho/")] == ["rho/pw_0", "rho/pw_1", "rho/pw_2"]
    assert_not_plain_training({**SMALL, "rho": {"pw_0": 0.0, "pw_1": 0.3, "pw_2": 0.0}})


def test_rho_columns_in_the_rows_and_keys_independent_of_p() -> None:
    rows = run_trial({**SMALL, "rho": 0.3})
    assert [r["rho/pw_1"] for r in rows] == [0.3] * SMALL["epochs"]
    zero, some = Trial({**SMALL, "rho": 0.0}), Trial({**SMALL, "rho": 0.4})
    assert list(zero.model.state_dict()) == list(some.model.state_dict())  # PBT moves weights


def test_weights_are_masked_in_training_only_and_from_the_generator() -> None:
    layer = nn.Linear(60, 50)
    original = layer.weight.detach().clone()
    DropConnectFamily([layer], [0.2], ["pw_0"], torch.Generator().manual_seed(0))
    rng = torch.random.get_rng_state()
    w = layer.weight.detach()
    assert torch.equal(torch.random.get_rng_state(), rng)  # the global generator is untouched
    kept = w != 0
    assert torch.allclose(w[kept], original[kept] / 0.8)
    assert abs(1 - float(kept.float().mean()) - 0.2) < 0.02
    assert not torch.equal(layer.weight, w)  # a fresh mask per forward
    layer.eval()
    assert torch.equal(layer.weight, original)  # evaluation: the full weights
    assert torch.equal(layer.parametrizations.weight.original, original)


@pytest.mark.parametrize("rho, match", [
    (1.0, r"rho=1.0: must lie in \[0, 1\) \(a drop probability\) \(family 'dropconnect'\)"),
    (-0.2, r"rho=-0.2: must lie in \[0, 1\)"),
    ({"pw_0": 0.1, "pw_1": 0.1}, r"must name exactly \['pw_0', 'pw_1', 'pw_2'\]"),
])
def test_bad_values_are_one_clear_error(rho, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, "rho": rho})


def test_not_learnable() -> None:
    with pytest.raises(ConfigError, match="'dropconnect' has no rho that cross_reg can learn"):
        check_config({**SMALL, "mode": "cross_reg", "rho": 0.1})
