"""``stochastic_depth``: each residual block's branch is dropped with a probability per block.

Stochastic depth (Huang et al. 2016) trains a residual network whose blocks are randomly
skipped: block l computes ``x + b * f(x)`` with b ~ Bernoulli(p_l), p_l its survival
probability, and the full network (``x + p_l f(x)``) predicts. rho ``death_i`` is the
probability that block i's branch is dropped, ``1 - p_l`` (Huang et al.'s code calls it the
death rate): the drop probability rather than the survival probability, so that, as in every
other family, rho = 0 is the unregularised network (the harness's ``fixed_rho = 0``
baseline) and more rho is more regularization. A scalar is shared by every block; Huang et
al.'s linear decay (1 - p_l = l / L * 0.5) is a dict ``{"death_0": .., "death_1": ..}``.

The blocks: ``resmlp``'s `ResidualBlock` (gated at ``block.branch``) and torchvision's
ResNet blocks, as in ``resnet18`` (gated at the branch's last BatchNorm, ``bn2`` of a
BasicBlock or ``bn3`` of a Bottleneck, before the addition; a downsampling shortcut stays).
A forward hook multiplies the branch's output by ``b / p_l`` (inverted, so evaluation is the
unscaled full network) in training mode only. Choice: one draw per example (the "drop path"
form; Huang et al. draw one per mini-batch), so a batch sees many sub-networks at once.

Not learnable: b is a Bernoulli draw, so the validation loss has no gradient in the death
rate. A relaxation (a concrete or a moment-matched Gaussian gate, as ``gaussian_dropout`` is
to ``dropout``) would be a different family; the exact one is kept here. A death rate of
exactly 0 draws nothing: the fixed twin at 0 is plain training bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..coerce import ConfigError
from ..models.resmlp import ResidualBlock
from ..regularizers import Family, Regularizer, expand_rho
from .dropout import probability

if TYPE_CHECKING:
    from ..config import TrialConfig


def branch_ends(model: nn.Module) -> list[nn.Module]:
    """The module whose output is each residual block's branch, in registration order."""
    from torchvision.models.resnet import BasicBlock, Bottleneck

    ends: list[nn.Module] = []
    for m in model.modules():
        if isinstance(m, ResidualBlock):
            ends.append(m.branch)
        elif isinstance(m, BasicBlock):
            ends.append(m.bn2)
        elif isinstance(m, Bottleneck):
            ends.append(m.bn3)
    if not ends:
        raise ConfigError("family='stochastic_depth' needs residual blocks (model 'resmlp' or "
                          "'resnet18', or torchvision ResNet blocks in a user's model)")
    return ends


class StochasticDepthFamily(Regularizer):
    """Per-block death rates, one Bernoulli gate per example (see the module doc)."""

    def __init__(self, ends: Sequence[nn.Module], death: Sequence[float], names: Sequence[str],
                 generator: torch.Generator | None) -> None:
        super().__init__(learned=False)
        self.names = list(names)
        self.death = [float(x) for x in death]
        if len(self.death) != len(ends):
            raise ValueError(f"stochastic_depth: {len(self.death)} death rates for {len(ends)} "
                             "blocks")
        self.generator = generator
        for i, end in enumerate(ends):
            end.register_forward_hook(partial(self._gate, i))

    def rho_values(self) -> dict[str, float]:
        return dict(zip(self.names, self.death))

    def _gate(self, index: int, module: nn.Module, inputs: tuple, output: torch.Tensor
              ) -> torch.Tensor | None:
        death = self.death[index]
        if death == 0.0 or not module.training:
            return None  # the branch's own output, untouched; no random numbers drawn
        shape = (output.shape[0],) + (1,) * (output.dim() - 1)
        keep = torch.rand(shape, generator=self.generator, device=output.device) >= death
        return output * keep.to(output.dtype) * (1.0 / (1.0 - death))


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"death_{i}" for i in range(len(branch_ends(model))))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> StochasticDepthFamily:
    names = rho_names(model, input_shape)
    return StochasticDepthFamily(branch_ends(model), expand_rho(config.rho, names,
                                                                "stochastic_depth"),
                                 names, generator)


FAMILY = Family(
    name="stochastic_depth",
    description="stochastic depth: each residual branch dropped with a death rate per block "
                "(1 - survival; not learnable: a Bernoulli gate has no gradient)",
    learnable=False,
    stochastic=False,
    search_range=(0.02, 0.5),
    rho_names=rho_names,
    build=build,
    domain=probability,
)
