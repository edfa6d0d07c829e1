"""``l1``: the L1 norm of every Linear weight matrix, one rho per matrix.

rho ``l1_i`` is the absolute L1 norm of the i-th nn.Linear weight (registration order; a
linear model has exactly one), learned or held in the level-set form of `NormFamily`: theta
steps move along the level set R(w) = rho, rho steps move across it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ConfigError, TrialConfig
from ..regularizers import Family, NormFamily, expand_rho, positive_when_learned


def _layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    n = len(_layers(model))
    if n == 0:
        raise ConfigError("family='l1' needs a model with nn.Linear layers")
    return tuple(f"l1_{i}" for i in range(n))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> NormFamily:
    names = rho_names(model, input_shape)
    return NormFamily(_layers(model), "l1", expand_rho(config.rho, names, "l1"), config.learned,
                      names=names)


FAMILY = Family(
    name="l1",
    description="the L1 norm of every Linear weight (lasso in level-set form, the L1-sphere projection)",
    learnable=True,
    stochastic=False,
    # an absolute norm: its useful scale grows with the layer's size (override per experiment)
    search_range=(1e-2, 3.0),
    rho_names=rho_names,
    build=build,
    domain=positive_when_learned,
)
