"""The shared machinery of the families against closed forms: the level-set NormFamily, the
L1-sphere projection, rho expansion, and the rules of a Family declaration."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import TrialConfig
from trainables.config import ConfigError
from trainables.regularizers import (
    Family,
    NormFamily,
    Regularizer,
    expand_rho,
    nonnegative,
    positive_when_learned,
    project_l1_sphere,
)


def _linear(seed: int = 0, d_in: int = 6, d_out: int = 1) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d_in, d_out, bias=False).double()


def test_l2_level_set_is_the_norm_direction_split():
    layer = _linear()
    family = NormFamily([layer], "l2", [2.5], learned=True, names=["w"]).double()
    v = layer.parametrizations.weight.original
    expected = 2.5 * v / v.norm()
    assert torch.allclose(layer.weight, expected, atol=1e-12)
    assert torch.allclose(layer.weight.norm(), torch.tensor(2.5, dtype=torch.float64))
    assert family.rho_values() == {"w": 2.5}


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_gradients_split_into_projection_and_orthogonal_part(penalty):
    """dL/drho is the projection of dL/dw on grad R; dL/dv is the orthogonal remainder."""
    layer = _linear(1)
    family = NormFamily([layer], penalty, [1.7], learned=True, names=["w"]).double()
    v = layer.parametrizations.weight.original
    x = torch.randn(20, 6, dtype=torch.float64)
    y = torch.randn(20, 1, dtype=torch.float64)

    w = layer.weight.detach().clone().requires_grad_(True)
    g = torch.autograd.grad(((x @ w.T - y) ** 2).mean(), w)[0]
    grad_r = w.detach().sign() if penalty == "l1" else w.detach() / w.detach().norm()
    u = grad_r / (grad_r ** 2).sum()

    loss = ((layer(x) - y) ** 2).mean()
    g_v, g_rho = torch.autograd.grad(loss, [v, family.rho])
    assert torch.allclose(g_rho, (g * u).sum().reshape(1), atol=1e-10)
    assert torch.allclose(g_v, g - grad_r * (g * u).sum(), atol=1e-10)
    assert abs(float((g_v * grad_r).sum())) < 1e-10  # orthogonal to grad R


def test_project_l1_sphere_matches_the_soft_threshold_and_keeps_signs():
    v = torch.tensor([3.0, -1.0, 0.5, 0.0, -0.2])
    out = project_l1_sphere(v, 2.0)
    assert torch.isclose(out.abs().sum(), torch.tensor(2.0))
    # soft threshold with tau = 1: [2, 0, 0, 0, 0]
    assert torch.allclose(out, torch.tensor([2.0, 0.0, 0.0, 0.0, 0.0]))
    grow = project_l1_sphere(torch.tensor([1.0, -1.0, 0.0]), 4.0)
    assert torch.allclose(grow, torch.tensor([2.0, -2.0, 0.0]))  # zeros stay zero
    assert torch.all(torch.sign(out[out != 0]) == torch.sign(v[out != 0]))


def test_project_l1_sphere_is_the_euclidean_projection():
    torch.manual_seed(0)
    v = torch.randn(8, dtype=torch.float64)
    radius = float(v.abs().sum()) * 0.4
    out = project_l1_sphere(v, radius)
    # no random point of the sphere is closer to v than the projection
    for _ in range(2000):
        z = torch.randn(8, dtype=torch.float64)
        z = z / z.abs().sum() * radius
        assert (z - v).norm() >= (out - v).norm() - 1e-12


def test_retraction_after_steps_keeps_the_amount_equal_to_rho():
    layer = _linear(2, 10)
    family = NormFamily([layer], "l1", [1.0], learned=True, names=["w"]).double()
    v = layer.parametrizations.weight.original
    with torch.no_grad():
        v.add_(torch.randn_like(v))
        family.after_theta_step()
        assert torch.isclose(v.abs().sum(), torch.tensor(1.0, dtype=torch.float64))
        family.rho.fill_(0.3)
        family.after_rho_step()
        assert torch.isclose(layer.weight.abs().sum(), torch.tensor(0.3, dtype=torch.float64))


def test_relative_weight_norm_reports_multiples_of_the_initial_norm():
    layer = _linear(3)
    initial = float(layer.weight.detach().norm())
    family = NormFamily([layer], "l2", None, learned=True, names=["g_0"], relative=[2.0]).double()
    assert family.rho_values()["g_0"] == pytest.approx(2.0)
    assert float(layer.weight.detach().norm()) == pytest.approx(2 * initial, rel=1e-6)


def test_expand_rho_names_the_missing_and_unknown():
    assert expand_rho(0.5, ["a", "b"], "noise") == [0.5, 0.5]
    with pytest.raises(ValueError, match="missing \\['b'\\]"):
        expand_rho({"a": 1.0}, ["a", "b"], "noise")
    with pytest.raises(ValueError, match="unknown \\['c'\\]"):
        expand_rho({"a": 1.0, "b": 1.0, "c": 1.0}, ["a", "b"], "noise")


def _family(**changes) -> Family:
    fields = {"name": "t", "description": "a test family", "learnable": True, "stochastic": False,
                  "search_range": (0.1, 1.0), "rho_names": lambda model, shape: ("a", "b"),
                  "build": lambda config, model, shape, generator: Regularizer(config.learned)}
    return Family(**{**fields, **changes})


@pytest.mark.parametrize("search_range", [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (1.0, float("inf"))])
def test_a_search_range_must_be_a_positive_interval(search_range) -> None:
    with pytest.raises(ValueError, match="search_range"):
        _family(search_range=search_range)


def test_family_check_names_the_key_and_the_rule() -> None:
    family = _family(domain=positive_when_learned)
    family.check(TrialConfig(mode="fixed", rho=0.0))  # a frozen 0 is allowed
    with pytest.raises(ConfigError, match=r"^rho=0.0: cross_reg learns it in log space"):
        family.check(TrialConfig(mode="cross_reg", rho=0.0))
    with pytest.raises(ConfigError, match=r"^rho\['b'\]=-1.0: must be >= 0 \(family 't'\)$"):
        family.check(TrialConfig(rho={"a": 1.0, "b": -1.0}))
    with pytest.raises(ConfigError, match="family='x'.*has no rho that cross_reg can learn"):
        _family(learnable=False).check(TrialConfig(family="x", mode="cross_reg", rho=1.0))
    assert nonnegative(0.0, True) is None and nonnegative(-1e-9, False) == "must be >= 0"


def test_family_regularizer_turns_value_errors_into_config_errors() -> None:
    def build(config, model, shape, generator):
        expand_rho(config.rho, ["a", "b"], "t")
        raise AssertionError("unreachable")

    with pytest.raises(ConfigError, match=r"rho=\{'a': 1.0\}: .*missing \['b'\]"):
        _family(build=build).regularizer(TrialConfig(rho={"a": 1.0}), nn.Linear(1, 1), (1,), None)

