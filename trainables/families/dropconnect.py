"""``dropconnect``: a drop probability for the weights of every Linear / Conv layer.

DropConnect (Wan et al. 2013) zeroes individual weights instead of units. rho ``pw_i`` is the
drop probability of the i-th ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` weight
(registration order). The weight is parametrised (`torch.nn.utils.parametrize`) as
``w * mask / (1 - p)`` in training mode, the Bernoulli mask drawn from the regularizer's
generator; evaluation uses the full weights (the mean network; Wan et al.'s moment-matched
Gaussian inference is not reproduced). Choice: one mask per forward pass, shared by the
mini-batch, as most implementations do; Wan et al. draw one per example, which costs a weight
matrix per example.

Not learnable: the mask is a Bernoulli draw, so the validation loss has no gradient in p. The
differentiable counterpart is ``weight_noise``. A fixed p of exactly 0 returns the weight
itself and draws nothing, so the fixed twin at p = 0 is plain training bit for bit (the
weight's state_dict key becomes ``parametrizations.weight.original`` whatever p is, so PBT can
move weights between trials with different p).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..coerce import ConfigError
from ..regularizers import Family, Regularizer, expand_rho
from .dropout import probability

if TYPE_CHECKING:
    from ..config import TrialConfig

#: the layers whose weights DropConnect and weight noise act on
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def weight_layers(model: nn.Module, family: str) -> list[nn.Module]:
    """The model's Linear / Conv layers in registration order; a ConfigError without any."""
    layers: list[nn.Module] = [m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]
    if not layers:
        raise ConfigError(f"family={family!r} needs a model with Linear or Conv layers")
    return layers


def weight_of(layer: nn.Module) -> torch.Tensor:
    """A layer's (effective) weight, typed as a tensor."""
    return cast(torch.Tensor, layer.weight)


def original_weight(layer: nn.Module) -> torch.Tensor:
    """The stored weight under a layer's weight parametrisation (what the optimiser steps)."""
    return layer.get_parameter("parametrizations.weight.original")


class _DropWeight(nn.Module):
    """The parametrisation ``w * mask / (1 - p)`` (training mode only)."""

    def __init__(self, generator: torch.Generator | None) -> None:
        super().__init__()
        self.p = 0.0  # set after registration: registering evaluates the parametrisation once
        self.generator = generator

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return w
        keep = torch.rand(w.shape, generator=self.generator, device=w.device) >= self.p
        return w * keep.to(w.dtype) * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropConnectFamily(Regularizer):
    """Fixed per-layer weight drop probabilities (see the module doc)."""

    def __init__(self, layers: Sequence[nn.Module], p: Sequence[float], names: Sequence[str],
                 generator: torch.Generator | None) -> None:
        super().__init__(learned=False)
        self.names = list(names)
        self.p = [float(x) for x in p]
        if len(self.p) != len(layers):
            raise ValueError(f"dropconnect: {len(self.p)} probabilities for {len(layers)} layers")
        self.generator = generator
        for layer, value in zip(layers, self.p):
            masks = _DropWeight(generator)
            parametrize.register_parametrization(layer, "weight", masks)
            masks.p = value

    def rho_values(self) -> dict[str, float]:
        return dict(zip(self.names, self.p))


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"pw_{i}" for i in range(len(weight_layers(model, "dropconnect"))))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> DropConnectFamily:
    names = rho_names(model, input_shape)
    return DropConnectFamily(weight_layers(model, "dropconnect"),
                             expand_rho(config.rho, names, "dropconnect"), names, generator)


FAMILY = Family(
    name="dropconnect",
    description="DropConnect: Bernoulli masks on the weights of every Linear/Conv layer, one drop "
                "probability per layer (not learnable: a Bernoulli mask has no gradient in p)",
    learnable=False,
    stochastic=False,
    search_range=(0.02, 0.5),
    rho_names=rho_names,
    build=build,
    domain=probability,
)
