"""``weight_norm``: the norm of every weight, as a multiple of its norm at initialisation.

rho ``g_i`` is the L2 norm of the i-th Linear / Conv1d / Conv2d weight (registration order)
relative to that weight's initial norm (a useful absolute norm depends on the layer's size),
in the weight-norm form ``w = g * v/|v|``: theta steps move the direction v, rho steps g.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..coerce import ConfigError
from ..regularizers import Family, NormFamily, expand_rho, positive_when_learned

if TYPE_CHECKING:
    from ..config import TrialConfig

LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def _layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, LAYERS)]


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    n = len(_layers(model))
    if n == 0:
        raise ConfigError("family='weight_norm' needs a model with Linear or Conv layers")
    return tuple(f"g_{i}" for i in range(n))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> NormFamily:
    names = rho_names(model, input_shape)
    relative = expand_rho(config.rho, names, "weight_norm")
    return NormFamily(_layers(model), "l2", None, config.learned, names=names, relative=relative)


FAMILY = Family(
    name="weight_norm",
    description="per-layer weight norm g (w = g v/|v|), as a multiple of the initial norm",
    learnable=True,
    stochastic=False,
    # multiples of the initial norm: a decade either side of it
    search_range=(0.1, 10.0),
    rho_names=rho_names,
    build=build,
    domain=positive_when_learned,
)
