"""``noise_at``: where the noise family's noise enters a normalised layer. ``before_affine`` is
the paper's h = gamma * (u_hat + sigma * eps) + beta, checked against that closed form on a
LayerNorm (the mlp's), a BatchNorm (the cnn's) and a point attached to a user's norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainables import ConfigError
from trainables.config import TrialConfig
from trainables.families.noise import build
from trainables.models import build_model
from trainables.models.noise import noise_points

SIGMA = 0.7


def _randomise_affine(model: nn.Module) -> None:
    """gamma and beta away from (1, 0), so that before and after the affine scale differ."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.LayerNorm, nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 3 - 1.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))


def _noisy(model: nn.Module, noise_at: str, seed: int = 5) -> torch.Generator:
    generator = torch.Generator().manual_seed(seed)
    build(TrialConfig(family="noise", rho=SIGMA, noise_at=noise_at), model, (1,), generator)
    return generator


def _eps(shape: torch.Size, seed: int = 5) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_before_affine_on_a_layernorm_is_the_papers_closed_form():
    torch.manual_seed(0)
    model = build_model("mlp", (6,), 3, width=8, depth=1)
    _randomise_affine(model)
    _noisy(model, "before_affine")
    block = model.blocks[0]
    x = torch.randn(5, 6)
    u = block.linear(x)
    u_hat = F.layer_norm(u, (8,))  # normalised, no affine
    expected = block.norm.weight * (u_hat + SIGMA * _eps(u.shape)) + block.norm.bias
    got = block.noise(block.norm(u))
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    # after_affine (the default) is gamma * u_hat + beta + sigma * eps: not the same
    after = build_model("mlp", (6,), 3, width=8, depth=1)
    after.load_state_dict(model.state_dict())
    _noisy(after, "after_affine")
    b = after.blocks[0]
    expected_after = b.norm.weight * u_hat + b.norm.bias + SIGMA * _eps(u.shape)
    torch.testing.assert_close(b.noise(b.norm(u)), expected_after, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(got, expected_after)


def test_before_affine_gradients_are_those_of_the_closed_form():
    """dh/dgamma = u_hat + sigma * eps, dh/dsigma = gamma * eps: the rewrite as a scaled draw
    after the norm keeps the paper's gradients."""
    model = build_model("mlp", (6,), 3, width=8, depth=1)
    _randomise_affine(model)
    points = noise_points(model)
    sigma = torch.tensor(SIGMA, requires_grad=True)
    _noisy(model, "before_affine")
    points[0].sigma = sigma
    block = model.blocks[0]
    u = block.linear(torch.randn(5, 6)).detach()
    block.noise(block.norm(u)).sum().backward()
    eps, u_hat = _eps(u.shape), F.layer_norm(u, (8,))
    torch.testing.assert_close(block.norm.weight.grad, (u_hat + SIGMA * eps).sum(0), rtol=1e-5,
                               atol=1e-5)
    torch.testing.assert_close(sigma.grad, (block.norm.weight.detach() * eps).sum(), rtol=1e-5,
                               atol=1e-5)


def test_before_affine_on_a_batchnorm_is_the_papers_closed_form():
    torch.manual_seed(0)
    model = build_model("cnn", (2, 12), 3, width=4, depth=1)
    _randomise_affine(model)
    _noisy(model, "before_affine")
    model.eval()
    block = model.blocks[0]
    bn = block.norm
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(4))
        bn.running_var.copy_(torch.rand(4) + 0.5)
    u = block.conv(torch.randn(3, 2, 12))
    u_hat = (u - bn.running_mean[:, None]) / torch.sqrt(bn.running_var[:, None] + bn.eps)
    expected = (bn.weight[:, None] * (u_hat + SIGMA * _eps(u.shape)) + bn.bias[:, None])
    torch.testing.assert_close(block.noise(bn(u)), expected, rtol=1e-5, atol=1e-5)


def test_before_affine_on_an_attached_point_of_a_users_groupnorm():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.GroupNorm(2, 4), nn.ReLU())
    _randomise_affine(model)
    _noisy(model, "before_affine")
    x = torch.randn(3, 2, 10)
    u = model[0](x)
    u_hat = F.group_norm(u, 2)
    gn = model[1]
    expected = gn.weight[:, None] * (u_hat + SIGMA * _eps(u.shape)) + gn.bias[:, None]
    torch.testing.assert_close(gn(u), expected, rtol=1e-5, atol=1e-5)


def test_a_norm_without_affine_scale_is_unchanged_by_the_placement():
    outs = []
    for noise_at in ("after_affine", "before_affine"):
        model = build_model("mlp", (6,), 3, width=8, depth=1, norm=False)
        _noisy(model, noise_at)
        torch.manual_seed(1)
        outs.append(model.blocks[0].noise(torch.ones(2, 8)))
    torch.testing.assert_close(outs[0], outs[1])


def test_state_dict_keys_do_not_change():
    plain = build_model("mlp", (6,), 3, width=8, depth=2)
    model = build_model("mlp", (6,), 3, width=8, depth=2)
    _noisy(model, "before_affine")
    assert list(model.state_dict()) == list(plain.state_dict())
    assert len(list(model.parameters())) == len(list(plain.parameters()))


def test_a_point_that_follows_no_norm_is_refused_before_affine():
    from trainables.models.noise import NoiseInjection

    model = nn.Sequential(nn.Linear(4, 4), NoiseInjection(), nn.ReLU())
    with pytest.raises(ConfigError, match="noise_at='before_affine'.*point 0"):
        _noisy(model, "before_affine")
    _noisy(nn.Sequential(nn.Linear(4, 4), NoiseInjection()), "after_affine")  # the default works


@pytest.mark.parametrize("values,match", [
    ({"family": "noise", "noise_at": "inside"}, "noise_at='inside'"),
    ({"family": "gaussian_dropout", "noise_at": "before_affine"}, "family='noise' only"),
    ({"family": "none", "noise_at": "before_affine"}, "noise_at"),
])
def test_noise_at_is_validated(values, match):
    with pytest.raises(ConfigError, match=match):
        TrialConfig.from_dict(values)


def test_a_before_affine_trial_trains_and_differs_from_after_affine():
    from trainables import run_trial

    base = {"dataset": "digits", "n_train": 120, "model": "mlp", "width": 16, "epochs": 2,
            "batch_size": 16, "family": "noise", "mode": "cross_reg", "rho": 0.5}
    before = run_trial({**base, "noise_at": "before_affine"})
    after = run_trial(base)
    # gamma starts at 1, so the first step's noise is the same; once theta moved gamma, not
    assert before[-1]["train_loss"] != after[-1]["train_loss"]
    assert before[-1]["rho/sigma_0"] != after[-1]["rho/sigma_0"]
