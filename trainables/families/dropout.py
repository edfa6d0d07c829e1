"""``dropout``: a drop probability per dropout site of the model (Srivastava et al. 2014).

rho ``p_i`` is the probability of zeroing a unit at the model's i-th ``nn.Dropout`` module
(registration order, which is forward order in the built-in models: one per hidden layer of
``mlp``, ``resmlp`` and ``cnn``, one before the head of ``vgg16`` and ``resnet18``). The
model's own Dropout module stays where the architecture puts it; a forward hook replaces its
output by ``x * mask / (1 - p)`` (inverted dropout) with a Bernoulli mask drawn from the
regularizer's generator, in training mode only. Evaluation uses every unit unscaled, the
deterministic "weight scaling" network of Srivastava et al.

Not learnable: the mask is a Bernoulli draw, so the validation loss has no gradient in p. The
differentiable counterpart is ``gaussian_dropout`` (the same sites, multiplicative Gaussian
noise whose std cross_reg can learn). A fixed p of exactly 0 draws nothing and leaves the
output untouched, so the fixed twin at p = 0 is plain training bit for bit.

This file also holds what the other probability families share: the model's dropout sites
(`dropout_sites`, used by ``gaussian_dropout``) and the domain of a probability
(`probability`, used by ``dropconnect`` and ``stochastic_depth``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..coerce import ConfigError
from ..regularizers import Family, Regularizer, expand_rho

if TYPE_CHECKING:
    from ..config import TrialConfig


def probability(value: float, learned: bool) -> str | None:
    """The domain of a drop probability: 1 would drop everything (and divide by 0)."""
    return None if 0.0 <= value < 1.0 else "must lie in [0, 1) (a drop probability)"


def dropout_sites(model: nn.Module, family: str) -> list[nn.Dropout]:
    """The model's ``nn.Dropout`` modules in registration order; a ConfigError without any."""
    sites = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    if not sites:
        raise ConfigError(f"family={family!r} acts at the model's dropout sites (its nn.Dropout "
                          "modules) and the model has none")
    return sites


def refuse_model_dropout(config: TrialConfig, family: str) -> None:
    """The model's own ``dropout`` knob and a family acting at the same sites would stack."""
    if config.dropout != 0.0:
        raise ConfigError(f"dropout={config.dropout!r}: family {family!r} sets what happens at "
                          "the model's dropout sites itself; leave the model's dropout at 0")


class DropoutFamily(Regularizer):
    """Inverted Bernoulli dropout with a fixed probability per site (see the module doc)."""

    def __init__(self, sites: Sequence[nn.Module], p: Sequence[float], names: Sequence[str],
                 generator: torch.Generator | None) -> None:
        super().__init__(learned=False)
        self.names = list(names)
        self.p = [float(x) for x in p]
        if len(self.p) != len(sites):
            raise ValueError(f"dropout: {len(self.p)} probabilities for {len(sites)} sites")
        self.generator = generator
        for i, site in enumerate(sites):
            site.register_forward_hook(partial(self._drop, i))

    def rho_values(self) -> dict[str, float]:
        return dict(zip(self.names, self.p))

    def _drop(self, index: int, module: nn.Module, inputs: tuple, output: torch.Tensor
              ) -> torch.Tensor | None:
        p = self.p[index]
        if p == 0.0 or not module.training:
            return None  # the site's own output, untouched; no random numbers drawn
        keep = torch.rand(output.shape, generator=self.generator, device=output.device) >= p
        return output * keep.to(output.dtype) * (1.0 / (1.0 - p))


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"p_{i}" for i in range(len(dropout_sites(model, "dropout"))))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> DropoutFamily:
    refuse_model_dropout(config, "dropout")
    names = rho_names(model, input_shape)
    return DropoutFamily(dropout_sites(model, "dropout"), expand_rho(config.rho, names, "dropout"),
                         names, generator)


FAMILY = Family(
    name="dropout",
    description="Bernoulli dropout, one drop probability per dropout site (not learnable: a "
                "Bernoulli mask has no gradient in p)",
    learnable=False,
    stochastic=False,
    search_range=(0.05, 0.7),
    rho_names=rho_names,
    build=build,
    domain=probability,
)
