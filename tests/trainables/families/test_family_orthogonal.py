"""The orthogonal family: each weight's distance from orthogonality |G - I|_F / sqrt(n) held at
rho (level-set form) fixed and learned, the retraction that gets there, and its domain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.families.orthogonal import deviation, deviation_gradient, retract
from trainables.trial import Trial

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 2, "epochs": 2,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
             "family": "orthogonal"}


def _weights(trial: Trial) -> list[torch.Tensor]:
    return [m.weight.detach() for m in trial.model.modules()
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]


def test_declaration_and_names() -> None:
    family = families.get("orthogonal")
    assert family.learnable and not family.stochastic and family.search_range == (0.05, 2.0)
    assert rho_names({**SMALL, "rho": 0.5}) == ("orth_0", "orth_1", "orth_2")
    assert rho_names({**SMALL, "model": "cnn", "depth": 3, "rho": 0.5}) == (
        "orth_0", "orth_1", "orth_2", "orth_3")


def test_deviation_is_zero_for_orthonormal_rows_or_columns_and_one_for_zero() -> None:
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(30, 8))  # orthonormal columns
    assert float(deviation(q)) == pytest.approx(0.0, abs=1e-5)  # tall: W^T W = I
    assert float(deviation(q.T)) == pytest.approx(0.0, abs=1e-5)  # wide: W W^T = I
    assert float(deviation(torch.zeros(5, 3, 2, 2))) == pytest.approx(1.0)
    w = torch.randn(6, 4, 3, requires_grad=True)
    (grad,) = torch.autograd.grad(deviation(w), [w])
    assert torch.allclose(deviation_gradient(w.detach()), grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape", [(40, 10), (10, 40), (16, 16), (8, 3, 3, 3)])
@pytest.mark.parametrize("rho", [0.01, 0.3, 1.0, 2.5])
def test_retraction_reaches_the_level_set_from_an_initialised_weight(shape, rho) -> None:
    torch.manual_seed(1)
    w = torch.empty(shape)
    nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    assert float(deviation(retract(w, rho))) == pytest.approx(rho, rel=1e-5, abs=1e-6)


def test_fixed_rho_holds_every_weight_at_its_amount_through_training() -> None:
    rho = {"orth_0": 0.2, "orth_1": 0.5, "orth_2": 1.5}
    trial = Trial({**SMALL, "rho": rho})
    for _ in range(SMALL["epochs"]):
        row = trial.run_epoch()
    for i, w in enumerate(_weights(trial)):
        assert float(deviation(w)) == pytest.approx(rho[f"orth_{i}"], rel=1e-5)
        assert row[f"rho/orth_{i}"] == pytest.approx(rho[f"orth_{i}"])
    conv = Trial({**SMALL, "model": "cnn", "depth": 2, "width": 8, "rho": 0.3})
    conv.run_epoch()
    assert [float(deviation(w)) for w in _weights(conv)] == [pytest.approx(0.3, rel=1e-5)] * 3


def test_cross_reg_moves_rho_and_the_weights_follow() -> None:
    trial = Trial({**SMALL, "mode": "cross_reg", "rho": 0.8, "rho_lr": 0.05})
    for _ in range(SMALL["epochs"]):
        row = trial.run_epoch()
    assert row["fwd_reg"] > 0
    assert row["rho/orth_2"] != pytest.approx(0.8, abs=1e-3)
    for i, w in enumerate(_weights(trial)):
        assert float(deviation(w)) == pytest.approx(row[f"rho/orth_{i}"], rel=1e-4)
    rows = run_trial({**SMALL, "rho": 0.4, "epochs": 1})
    assert [k for k in rows[0] if k.startswith("rho/")] == ["rho/orth_0", "rho/orth_1", "rho/orth_2"]


@pytest.mark.parametrize("config, match", [
    ({"rho": 0.0}, (r"rho=0.0: must be > 0 \(at 0 the penalty has no gradient to follow\) "
                    r"\(family 'orthogonal'\)")),
    ({"rho": -0.5}, r"rho=-0.5: must be > 0"),
    ({"rho": {"orth_0": 0.1}}, r"must name exactly \['orth_0', 'orth_1', 'orth_2'\]"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config})


DIRECTION = {"dataset": "mnist1d", "model": "mlp", "batch_size": 100, "reg_batch_size": 100,
                 "family": "orthogonal", "mode": "cross_reg", "K": 4, "r": 1, "rho_lr": 1e-2,
                 "rho": 1.0, "seed": 0}


@pytest.mark.slow
def test_the_head_is_pulled_to_orthogonal_where_a_wide_mlp_overfits() -> None:
    """Less rho is more regularization. The head's amount is what sets the logits; the
    LayerNorm'd hidden layers loosen instead (seeds 0-2: first layer 1.50, 1.12, 1.76)."""
    rows = run_trial({**DIRECTION, "width": 512, "depth": 2, "n_train": 1000, "epochs": 20})
    assert rows[-1]["train_acc"] > rows[-1]["val_acc"] + 0.2  # it does overfit
    assert rows[-1]["rho/orth_2"] < 0.2  # from 1.0 (seeds 0-2: 0.001, the floor, on each)


@pytest.mark.slow
def test_the_head_loosens_where_a_narrow_mlp_underfits() -> None:
    rows = run_trial({**DIRECTION, "width": 16, "depth": 1, "n_train": 2000, "epochs": 20})
    assert rows[-1]["train_acc"] < 0.6  # it cannot even fit the training split
    assert rows[-1]["rho/orth_1"] > 1.5  # from 1.0 (seeds 0-2: 3.17, 2.86, 1.95)
