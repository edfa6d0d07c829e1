"""``gaussian_dropout``: multiplicative Gaussian noise at each dropout site, its std learnable.

rho ``std_i`` is the standard deviation of the noise at the model's i-th ``nn.Dropout``
module (the sites of the ``dropout`` family): the site's output x becomes ``x * (1 + std *
eps)``, eps ~ N(0, 1) per unit from the regularizer's generator. Srivastava et al. (2014,
section 10) introduce it as dropout's Gaussian counterpart: noise of variance
``alpha = std^2 = p / (1 - p)`` has the mean and variance of inverted Bernoulli dropout with
drop probability p (p = 0.5 is std = 1, p = 0.2 is std = 0.5). Kingma, Salimans & Welling
(2015, variational dropout) learn alpha by gradient, which the reparameterised noise allows.

Learnable: std enters the forward pass as a factor of reparameterised noise, so dL/dstd exists.
Learned std is stored as log std (positive; multiplicative steps suit a scale). As for the
``noise`` family, the noise stays on at evaluation and the prediction is the mean over K
samples (Monte-Carlo dropout, Gal & Ghahramani 2016): the rho step scores the very predictor
that is reported, with the same K samples. A fixed std of exactly 0 draws nothing and leaves
the output untouched, so the fixed twin at std = 0 is plain training bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..regularizers import Family, HookedNoise, expand_rho, positive_when_learned
from .dropout import dropout_sites, refuse_model_dropout

if TYPE_CHECKING:
    from ..config import TrialConfig


class GaussianDropoutFamily(HookedNoise):
    """``x * (1 + std_i * eps)`` at each site, in train and eval mode (see the module doc)."""

    family = "gaussian_dropout"

    def perturb(self, module: nn.Module, inputs: tuple, output: torch.Tensor,
                std: torch.Tensor | float) -> torch.Tensor:
        eps = torch.randn(output.shape, generator=self.generator, device=output.device,
                          dtype=output.dtype)
        return output * (1.0 + std * eps)


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"std_{i}" for i in range(len(dropout_sites(model, "gaussian_dropout"))))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> GaussianDropoutFamily:
    refuse_model_dropout(config, "gaussian_dropout")
    names = rho_names(model, input_shape)
    return GaussianDropoutFamily(dropout_sites(model, "gaussian_dropout"),
                                 expand_rho(config.rho, names, "gaussian_dropout"), names,
                                 config.learned, generator)


FAMILY = Family(
    name="gaussian_dropout",
    description="multiplicative Gaussian noise x(1 + std eps) at each dropout site, one std per "
                "site (std^2 = p/(1-p) matches Bernoulli dropout)",
    learnable=True,
    stochastic=True,
    # std 0.1 to 2: the variance of Bernoulli dropout with p from 0.01 to 0.8
    search_range=(0.1, 2.0),
    rho_names=rho_names,
    build=build,
    domain=positive_when_learned,
)
