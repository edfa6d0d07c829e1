"""``l1_net``: the L1 norm of every Linear / Conv weight of a network, relative to its initial norm.

rho ``l1rel_i`` is the L1 norm of the i-th ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d``
weight (registration order) as a multiple of that weight's L1 norm at initialisation, held in
the level-set form of the norm families (`trainables.regularizers`): the weight is
``w = v + (a - |v|_1) * u`` with a = rho * (initial L1 norm) and ``u = sign(v) / |sign(v)|^2``
held constant, so theta steps move along the L1 sphere ``|w|_1 = a`` (the gradient minus its
projection on sign(w)), rho steps move across it, and after every step v is projected back
onto the sphere (`project_l1_sphere`: the lasso's soft threshold, Tibshirani 1996; Duchi et
al. 2008). It is to the ``l1`` family (absolute norms of Linear weights, made for the linear
lasso) what ``weight_norm`` is to ``l2``: a useful absolute L1 norm grows with the layer's
size (thousands for a 512 x 512 layer), so one relative value can be shared by every layer
and searched on one range.

Choice: learned rho is stored as log rho, so a rho step changes every layer's norm by the
same *fraction* whatever its size (an optimiser step on the absolute norm would move a large
layer's relative amount by about lr / |w|_1, i.e. not at all).

There is no value at which this is plain training: every rho, fixed or learned, constrains the
norm (rho = 0 is the all-zero network). Less rho is more regularization: shrinking the sphere
drives more weights to exactly zero (the pruning effect of L1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..regularizers import (
    Family,
    Regularizer,
    expand_rho,
    l1_norm,
    positive_when_learned,
    project_l1_sphere,
)
from .dropconnect import original_weight, weight_layers, weight_of

if TYPE_CHECKING:
    from ..config import TrialConfig


class _L1LevelSet(nn.Module):
    """``w = v + (a - |v|_1) * sign(v) / |sign(v)|^2`` for one weight tensor."""

    _family: L1NetFamily

    def __init__(self, family: L1NetFamily, index: int) -> None:
        super().__init__()
        object.__setattr__(self, "_family", family)  # rho belongs to the regularizer
        self.index = index

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        sign = torch.sign(v.detach())
        direction = sign / sign.pow(2).sum().clamp_min(1e-12)
        return v + (self._family.amounts()[self.index] - l1_norm(v)) * direction


class L1NetFamily(Regularizer):
    """Per-layer L1 norms as multiples of the initial ones (see the module doc)."""

    reference: torch.Tensor
    fixed_relative: torch.Tensor

    def __init__(self, layers: Sequence[nn.Module], relative: Sequence[float],
                 names: Sequence[str], learned: bool) -> None:
        super().__init__(learned)
        self.layers = list(layers)  # a plain list: the layers belong to the model
        self.names = list(names)
        if not len(relative) == len(self.names) == len(self.layers):
            raise ValueError(f"l1_net: {len(relative)} rho values and {len(self.names)} names "
                             f"for {len(self.layers)} weights")
        initial = [float(l1_norm(weight_of(layer).detach())) for layer in self.layers]
        self.register_buffer("reference", torch.tensor(initial, dtype=torch.float32))
        values = torch.tensor([float(x) for x in relative], dtype=torch.float32)
        if learned:
            self.log_relative = nn.Parameter(values.log())
        else:
            self.register_buffer("fixed_relative", values)
        for i, layer in enumerate(self.layers):
            parametrize.register_parametrization(layer, "weight", _L1LevelSet(self, i))
        self.after_rho_step()

    def relative(self) -> torch.Tensor:
        return self.log_relative.exp() if self.learned else self.fixed_relative

    def amounts(self) -> torch.Tensor:
        """The absolute L1 norm each weight is held at."""
        return self.relative() * self.reference

    def rho_values(self) -> dict[str, float]:
        return {n: float(x) for n, x in zip(self.names, self.relative().detach().cpu())}

    @torch.no_grad()
    def after_theta_step(self) -> None:
        for layer, amount in zip(self.layers, self.amounts().tolist()):
            v = original_weight(layer)
            v.copy_(project_l1_sphere(v, amount))

    @torch.no_grad()
    def after_rho_step(self) -> None:
        self.after_theta_step()


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"l1rel_{i}" for i in range(len(weight_layers(model, "l1_net"))))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> L1NetFamily:
    names = rho_names(model, input_shape)
    return L1NetFamily(weight_layers(model, "l1_net"), expand_rho(config.rho, names, "l1_net"),
                       names, config.learned)


FAMILY = Family(
    name="l1_net",
    description="per-layer L1 norm of every Linear/Conv weight (level-set form, the L1-sphere "
                "projection), as a multiple of its initial L1 norm",
    learnable=True,
    stochastic=False,
    # multiples of the initial L1 norm: training usually grows it, sparsity needs < 1
    search_range=(0.1, 10.0),
    rho_names=rho_names,
    build=build,
    domain=positive_when_learned,
)
