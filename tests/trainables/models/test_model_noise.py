"""NoiseInjection: identity at sigma 0 without random numbers, gradients, statistics; and the
points attached to a model that has none (after each BatchNorm / LayerNorm / GroupNorm)."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

import trainables
from trainables.models import build_model
from trainables.models.noise import NoiseInjection, attach_noise_points, noise_points


def test_noise_injection_identity_consumes_no_rng() -> None:
    x = torch.randn(4, 8)
    layer = NoiseInjection()
    g = torch.Generator().manual_seed(3)
    g_state, cpu_state = g.get_state(), torch.get_rng_state()
    assert layer(x) is x  # sigma None
    layer.sigma = torch.tensor(0.0)
    assert layer(x) is x
    layer.generator = g
    assert layer(x) is x
    layer.sigma = 0.0  # a frozen value as the noise family sets it
    assert layer(x) is x
    assert torch.equal(g.get_state(), g_state)
    assert torch.equal(torch.get_rng_state(), cpu_state)


def test_a_learned_sigma_at_zero_still_carries_its_gradient() -> None:
    """d(x + sigma * eps)/dsigma = eps even at sigma = 0: a sigma that requires grad is applied."""
    layer = NoiseInjection()
    layer.generator = torch.Generator().manual_seed(0)
    sigma = torch.tensor(0.0, requires_grad=True)
    layer.sigma = sigma
    (grad,) = torch.autograd.grad(layer(torch.ones(16)).sum(), [sigma])
    assert grad != 0


def test_noise_injection_std_and_reproducibility() -> None:
    layer = NoiseInjection()
    layer.sigma = torch.tensor(0.5)
    layer.generator = torch.Generator().manual_seed(1)
    layer.eval()  # noise is applied in eval mode too
    x = torch.full((200_000,), 3.0)
    y1 = layer(x)
    assert abs((y1 - 3.0).mean().item()) < 0.01
    assert abs((y1 - 3.0).std().item() - 0.5) < 0.005
    layer.generator = torch.Generator().manual_seed(1)
    assert torch.equal(layer(x), y1)
    cpu_state = torch.get_rng_state()
    layer(x)
    assert torch.equal(torch.get_rng_state(), cpu_state)  # only the given generator is used


def test_noise_injection_default_rng_and_grad() -> None:
    layer = NoiseInjection()
    sigma = torch.tensor(0.3, requires_grad=True)
    layer.sigma = sigma
    torch.manual_seed(0)
    y = layer(torch.zeros(10))
    torch.manual_seed(0)
    assert torch.equal(y, 0.3 * torch.randn(10))
    y.sum().backward()
    assert sigma.grad is not None and sigma.grad.item() != 0.0


def test_noise_attributes_not_in_state_dict() -> None:
    m = build_model("mlp", (20,), 3, width=16)
    for p in noise_points(m):
        p.sigma = torch.tensor(0.1, requires_grad=True)
    names = set(m.state_dict())
    assert not any("sigma" in n for n in names)
    assert len(list(m.parameters())) == len(list(build_model("mlp", (20,), 3, width=16).parameters()))



def _user_net() -> nn.Module:
    """A user's network: no NoiseInjection, three kinds of normalisation, in this order."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 4, 3, padding=1), nn.BatchNorm1d(4), nn.ReLU(),
        nn.Conv1d(4, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 8, 6), nn.LayerNorm(6), nn.ReLU(), nn.Linear(6, 3))


def test_exported_at_the_package_top() -> None:
    assert trainables.NoiseInjection is NoiseInjection


def test_points_are_attached_after_each_norm_layer_in_order_and_keys_stay() -> None:
    net = _user_net()
    keys = list(net.state_dict())
    x = torch.randn(5, 1, 8)
    net.eval()
    plain = net(x)
    points = attach_noise_points(net)
    assert len(points) == 3 and points == noise_points(net)
    assert list(net.state_dict()) == keys  # a user's checkpoints still load
    assert torch.equal(net(x), plain)  # no sigma: the identity, no random numbers
    seen: list[torch.Tensor] = []
    for p in points:
        p.register_forward_hook(lambda mod, i, o: seen.append(i[0]))
    norms = [net[1], net[4], net[8]]
    outputs: list[torch.Tensor] = []
    for norm in norms:
        norm.register_forward_hook(lambda mod, i, o: outputs.append(o), prepend=True)
    net(x)
    # point k receives exactly the output of norm k, in forward order
    assert len(seen) == 3 and all(torch.equal(a, b) for a, b in zip(seen, outputs))


def test_an_attached_point_adds_noise_with_its_sigma() -> None:
    net = _user_net().eval()
    x = torch.randn(4, 1, 8)
    points = attach_noise_points(net)
    points[2].sigma = 0.5
    points[2].generator = torch.Generator().manual_seed(1)
    noisy = net(x)
    assert not torch.equal(noisy, _user_net().eval()(x))
    # the same generator state gives the same noisy output: nothing else draws
    points[2].generator = torch.Generator().manual_seed(1)
    assert torch.equal(net(x), noisy)


def test_a_model_with_its_own_points_gets_no_more() -> None:
    model = build_model("mlp", (10,), 3, width=8, depth=2)
    before = noise_points(model)
    assert attach_noise_points(model) == before and len(before) == 2


def test_no_norm_layer_no_point() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    assert attach_noise_points(net) == []


def test_a_model_with_attached_points_copies_and_pickles() -> None:
    net = _user_net().eval()
    attach_noise_points(net)[0].sigma = 1.0
    twin = copy.deepcopy(net)
    assert len(noise_points(twin)) == 3
    twin_points = noise_points(twin)
    twin_points[0].generator = torch.Generator().manual_seed(0)
    noise_points(net)[0].generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 8)
    assert torch.equal(twin(x), net(x))  # the copy's hook drives the copy's own point
    twin_points[0].sigma = 0.0
    assert not torch.equal(twin(x), net(x))
    buffer = io.BytesIO()
    torch.save(net, buffer)  # pickling the whole module works (the hook is a module function)
    assert buffer.tell() > 0


@pytest.mark.parametrize("norm", [nn.BatchNorm1d(6), nn.LayerNorm(6), nn.GroupNorm(3, 6)])
def test_each_norm_kind_gets_a_point(norm: nn.Module) -> None:
    net = nn.Sequential(nn.Linear(4, 6), norm, nn.Linear(6, 2))
    assert len(attach_noise_points(net)) == 1
