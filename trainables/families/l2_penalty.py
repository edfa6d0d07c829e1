"""``l2_penalty``: weight decay whose coefficient is rho, a penalty added to the training loss.

rho ``wd_i`` is the coefficient of ``(wd_i / 2) ||W_i||^2`` for the weight of the i-th Linear or
convolution layer (registration order; biases and normalisation parameters are not decayed),
added to every theta step's objective (`Regularizer.train_penalty`): its gradient ``wd_i W_i`` is
what torch's SGD ``weight_decay=wd_i`` adds. Unlike the level-set ``l2`` family, rho is not in
the forward pass, so the validation loss has no partial derivative in it: cross_reg cannot
learn it (``learnable=False``); mode='t1t2' can, through the theta step (Luketina et al.,
ICML 2016, tune exactly this). Learned, the coefficient is stored as log wd (positive,
multiplicative steps). A fixed wd of exactly 0 adds nothing: the fixed twin at 0 is plain
training bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..coerce import ConfigError
from ..regularizers import Family, Regularizer, expand_rho, positive_when_learned

if TYPE_CHECKING:
    from ..config import TrialConfig

DECAYED = (nn.Linear, nn.modules.conv._ConvNd)


def layers(model: nn.Module) -> list[nn.Module]:
    found: list[nn.Module] = [m for m in model.modules() if isinstance(m, DECAYED)]
    if not found:
        raise ConfigError("family='l2_penalty' decays the weights of Linear and convolution "
                          "layers and the model has none")
    return found


class L2Penalty(Regularizer):
    """``sum_i (wd_i / 2) ||W_i||^2`` on the training loss (see the module doc)."""

    fixed_wd: torch.Tensor
    modules_: list[nn.Module]

    def __init__(self, modules: Sequence[nn.Module], wd: Sequence[float], names: Sequence[str],
                 learned: bool) -> None:
        super().__init__(learned)
        if len(wd) != len(modules) or len(names) != len(modules):
            raise ValueError(f"l2_penalty: {len(wd)} coefficients and {len(names)} names for "
                             f"{len(modules)} layers")
        self.names = list(names)
        object.__setattr__(self, "modules_", list(modules))  # the model's, not submodules
        values = torch.tensor([float(w) for w in wd], dtype=torch.float32)
        if learned:
            self.log_wd = nn.Parameter(values.log())
        else:
            self.register_buffer("fixed_wd", values)
        self._fixed = values.tolist()  # frozen values as floats: no device sync per step

    def wd(self) -> torch.Tensor:
        return self.log_wd.exp() if self.learned else self.fixed_wd

    def rho_values(self) -> dict[str, float]:
        return {n: float(w) for n, w in zip(self.names, self.wd().detach().cpu())}

    def train_penalty(self, n_train: int) -> torch.Tensor | None:
        wd: torch.Tensor | list[float] = self.log_wd.exp() if self.learned else self._fixed
        total: torch.Tensor | None = None
        for i, module in enumerate(self.modules_):
            if not self.learned and self._fixed[i] == 0.0:
                continue  # a frozen 0 adds nothing, not even a zero to the graph
            weight = module.weight
            assert isinstance(weight, torch.Tensor)
            term = 0.5 * wd[i] * weight.pow(2).sum()
            total = term if total is None else total + term
        return total


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"wd_{i}" for i in range(len(layers(model))))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> L2Penalty:
    names = rho_names(model, input_shape)
    return L2Penalty(layers(model), expand_rho(config.rho, names, "l2_penalty"), names,
                     config.learned)


FAMILY = Family(
    name="l2_penalty",
    description="weight decay (wd/2)|W|^2 on the training loss, one coefficient per Linear/conv "
                "weight (outside the forward pass: t1t2 learns it, cross_reg cannot)",
    learnable=False,
    t1t2_learnable=True,
    stochastic=False,
    search_range=(1e-5, 1e-1),
    rho_names=rho_names,
    build=build,
    domain=positive_when_learned,
)
