"""The concrete_dropout family (Gal, Hron & Kendall 2017): the relaxed mask at the pinned
temperature 0.1, the paper's KL term recomputed here from its formula, rates that move with
theta and stay in (0, 1), no regularization split, its refusals, and a restore that continues
identically."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from restoring import columns, restored_run
from torch import nn

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.families import concrete_dropout as cd
from trainables.trial import Trial

SMALL = {"dataset": "digits", "n_train": 200, "model": "mlp", "width": 16, "depth": 2, "epochs": 3,
         "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3, "K": 2,
         "device": "cpu", "family": "concrete_dropout", "rho": 0.1}


def test_declaration_and_names() -> None:
    family = families.get("concrete_dropout")
    assert not family.learnable and family.stochastic and family.learned_with_theta
    assert rho_names(SMALL) == ("p_0", "p_1", "p_2")  # the inputs of both hidden layers and the head
    assert cd.TEMPERATURE == 0.1 and cd.LENGTH_SCALE == 1e-4


def _family(rates: list[float]) -> tuple[nn.Sequential, cd.ConcreteDropoutFamily]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    family = cd.ConcreteDropoutFamily([model[0], model[2]], rates, ["p_0", "p_1"],
                                      generator=torch.Generator().manual_seed(1))
    return model, family


def test_the_regularizer_is_the_papers_kl_over_n() -> None:
    """sum_l [l^2 (1 - p) / (2N) |M|^2 - (K/N) H(p)], M the weight without the inverted
    dropout's 1/(1 - p) scaling (so M = W / (1 - p)), K the layer's input dimension."""
    rates, n = [0.2, 0.6], 1000
    model, family = _family(rates)
    with torch.no_grad():  # weights big enough that the weight term is not lost in rounding
        for layer in (model[0], model[2]):
            layer.weight.mul_(3e4)
    expected = 0.0
    for layer, p in zip((model[0], model[2]), rates):
        m = layer.weight.detach().double().numpy() / (1 - p)
        entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
        expected += (1e-4 ** 2 * (1 - p) / (2 * n) * np.sum(m ** 2)
                     - layer.in_features / n * entropy)
    got = float(family.train_penalty(n).detach())
    assert got == pytest.approx(expected, rel=1e-5)
    weight_part = sum(1e-4 ** 2 * float((layer.weight.detach().double() ** 2).sum()) / (2 * n * (1 - p))
                      for layer, p in zip((model[0], model[2]), rates))
    assert weight_part > 0.1 * abs(expected)  # both terms matter in this check
    # the term's gradient reaches the rates: the entropy pushes p towards 0.5
    logits = [model[0].concrete_p_logit, model[2].concrete_p_logit]
    grads = torch.autograd.grad(family.train_penalty(n), logits)
    assert all(torch.isfinite(g) for g in grads)


def test_extreme_rates_keep_the_term_finite() -> None:
    model, family = _family([0.5, 0.5])
    with torch.no_grad():
        model[0].concrete_p_logit.fill_(40.0)  # sigmoid rounds to 1 in float32
        model[2].concrete_p_logit.fill_(-40.0)
    assert math.isfinite(float(family.train_penalty(100).detach()))
    out = model(torch.ones(4, 5))
    assert torch.isfinite(out).all()


def test_the_mask_is_the_relaxed_bernoulli_at_temperature_0_1() -> None:
    model, family = _family([0.3, 0.3])
    x = torch.ones(20000, 5)
    state = family.generator.get_state()
    (out,) = family._drop(0, model[0], (x,))
    u = torch.rand(x.shape, generator=torch.Generator().set_state(state)).clamp(1e-7, 1 - 1e-7)
    logit = math.log(0.3 / 0.7)
    drop = torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / 0.1)
    assert torch.allclose(out.detach(), (1 - drop) / 0.7, rtol=1e-5, atol=1e-6)
    # P(z > 1/2) = p exactly, and at t = 0.1 most masks are near 0 or 1
    assert float((drop > 0.5).float().mean()) == pytest.approx(0.3, abs=0.01)
    assert float(((drop > 0.05) & (drop < 0.95)).float().mean()) < 0.15
    # the mask is differentiable in the rate (the point of the relaxation)
    (grad,) = torch.autograd.grad(out.sum(), [model[0].concrete_p_logit])
    assert float(grad) != 0.0


def test_rates_move_with_theta_stay_in_0_1_and_need_no_regularization_split() -> None:
    rows = run_trial(SMALL)
    for row in rows:
        assert all(0.0 < row[f"rho/p_{i}"] < 1.0 for i in range(3))
        assert row["fwd_reg"] == 0 and row["flops_reg"] == 0
    assert any(rows[-1][f"rho/p_{i}"] != pytest.approx(0.1, rel=1e-4) for i in range(3))
    trial = Trial({**SMALL, "epochs": 1})
    assert "blocks.0.linear.concrete_p_logit" in trial.model.state_dict()  # theta's, checkpointed
    logits = {id(getattr(m, cd.LOGIT)) for m in trial.model.modules() if hasattr(m, cd.LOGIT)}
    assert len(logits) == 3 and logits <= {id(p) for p in trial.engine.theta_params}
    assert trial.regularizer.eval_samples(SMALL["K"]) == SMALL["K"]  # MC-dropout predictions
    # a high start is pulled in by the weight term and the data, never out of (0, 1)
    high = run_trial({**SMALL, "rho": 0.95, "epochs": 2, "lr": 1e-2})
    assert all(0.0 < row[f"rho/p_{i}"] < 1.0 for row in high for i in range(3))


@pytest.mark.parametrize("config, match", [
    ({"mode": "cross_reg"}, r"'concrete_dropout' has no rho that cross_reg can learn"),
    ({"mode": "t1t2"}, r"'concrete_dropout' has no rho that t1t2 can learn"),
    ({"rho": 0.0}, r"rho=0.0: must lie in \(0, 1\)"),
    ({"rho": 1.0}, r"rho=1.0: must lie in \(0, 1\)"),
    ({"dropout": 0.2}, r"dropout=0.2: family 'concrete_dropout' sets what happens"),
    ({"rho": {"p_0": 0.1}}, r"must name exactly \['p_0', 'p_1', 'p_2'\]"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config})


def test_restore_at_epoch_2_continues_identically() -> None:
    run = restored_run({**SMALL, "epochs": 4}, stop=2)
    keys = ("train_loss", "val_loss", "test_loss", "rho/p_0", "rho/p_1", "rho/p_2")
    assert columns(run.rows, keys) == columns(run.straight_rows, keys)
