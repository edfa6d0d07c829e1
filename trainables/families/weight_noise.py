"""``weight_noise``: multiplicative Gaussian noise on every weight, its std learnable per layer.

The differentiable DropConnect: each weight of the i-th ``nn.Linear`` / ``nn.Conv1d`` /
``nn.Conv2d`` layer (the ``dropconnect`` family's layers) is ``w * (1 + std_i * eps)`` with
an independent eps ~ N(0, 1) per weight *and per example* (Wan et al. 2013 draw a DropConnect
mask per example; std^2 = p / (1 - p) matches its variance). A weight sample per example would
cost a weight matrix per example, so the layer's output is sampled instead with the local
reparameterisation trick (Kingma, Salimans & Welling 2015): given the input x, the noisy
pre-activation is exactly Gaussian with mean ``x W^T + b`` and variance
``std^2 * (x^2) (W^2)^T``, independent across units and examples; a forward hook adds
``std * sqrt(variance) * eps`` to the layer's output (bias unperturbed). This also gives the
K samples of a rho step independent noise although they share one weight tensor.

Learnable: std multiplies reparameterised noise, so dL/dstd exists; learned std is stored as
log std. As in ``noise`` and ``gaussian_dropout`` the noise stays on at evaluation, which
averages K samples (the predictor the rho step scores). A fixed std of exactly 0 draws nothing
and leaves the output untouched: the fixed twin at std = 0 is plain training bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..regularizers import Family, HookedNoise, expand_rho, positive_when_learned
from .dropconnect import weight_layers, weight_of

if TYPE_CHECKING:
    from ..config import TrialConfig


def output_variance(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(x^2) (W^2)^T``: the output variance per unit of std-1 multiplicative weight noise."""
    w2 = weight_of(layer) ** 2
    if isinstance(layer, nn.Linear):
        return F.linear(x * x, w2)
    return layer._conv_forward(x * x, w2, None)  # type: ignore[operator]


class WeightNoiseFamily(HookedNoise):
    """Per-layer std of multiplicative weight noise, sampled per output (see the module doc)."""

    family = "weight_noise"

    def perturb(self, module: nn.Module, inputs: tuple, output: torch.Tensor,
                std: torch.Tensor | float) -> torch.Tensor:
        # clamped before the root: sqrt's gradient at an all-zero input row would be infinite
        scale = output_variance(module, inputs[0]).clamp_min(1e-12).sqrt()
        eps = torch.randn(output.shape, generator=self.generator, device=output.device,
                          dtype=output.dtype)
        return output + std * scale * eps


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"stdw_{i}" for i in range(len(weight_layers(model, "weight_noise"))))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> WeightNoiseFamily:
    names = rho_names(model, input_shape)
    return WeightNoiseFamily(weight_layers(model, "weight_noise"),
                             expand_rho(config.rho, names, "weight_noise"), names,
                             config.learned, generator)


FAMILY = Family(
    name="weight_noise",
    description="multiplicative Gaussian noise w(1 + std eps) on the weights of every Linear/Conv "
                "layer, one std per layer (the differentiable DropConnect)",
    learnable=True,
    stochastic=True,
    search_range=(0.1, 2.0),
    rho_names=rho_names,
    build=build,
    domain=positive_when_learned,
)
