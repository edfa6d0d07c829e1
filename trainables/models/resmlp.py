"""``resmlp``: a residual MLP, the model the ``stochastic_depth`` family needs without images.

Flatten -> Linear(d, width) -> ``depth`` residual blocks -> LayerNorm -> ReLU -> Linear, each
block ``x + branch(x)`` with ``branch = Linear -> LayerNorm -> noise -> ReLU -> Dropout ->
Linear``: the ResNet of Gorishniy et al. (2021, "Revisiting deep learning models for tabular
data") with the harness MLP's own layer pattern inside the branch (normalised pre-activation,
a noise point on it, Dropout after the activation), and the pre-activation head of He et al.
(2016, identity mappings). The branch is one submodule, ``block.branch``, so a family can act
on its output before the addition (stochastic depth gates it). ``width`` defaults to 512 and
``depth`` (the number of blocks) to 2; ``depth=0`` is stem -> head. As in ``mlp`` the Dropout
modules are always present (p may be 0), so ``state_dict`` keys do not depend on p.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .noise import NoiseInjection
from .spec import ModelSpec, numel


class ResidualBlock(nn.Module):
    """``x + branch(x)``: the branch's output is the residual a block adds to its input."""

    def __init__(self, width: int, dropout: float, norm: bool) -> None:
        super().__init__()
        self.branch = nn.Sequential(OrderedDict([
            ("linear", nn.Linear(width, width)),
            ("norm", nn.LayerNorm(width) if norm else nn.Identity()),
            ("noise", NoiseInjection()),
            ("act", nn.ReLU()),
            ("drop", nn.Dropout(dropout)),
            ("out", nn.Linear(width, width)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class ResMLP(nn.Module):
    """Flatten -> stem Linear -> ``depth`` x `ResidualBlock` -> LayerNorm -> ReLU -> Linear."""

    def __init__(self, input_shape: tuple[int, ...], n_out: int, width: int, depth: int,
                 dropout: float, norm: bool) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.stem = nn.Linear(numel(input_shape), width)
        self.blocks = nn.Sequential(*(ResidualBlock(width, dropout, norm) for _ in range(depth)))
        self.norm = nn.LayerNorm(width) if norm else nn.Identity()
        self.act = nn.ReLU()
        self.head = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.norm(self.blocks(self.stem(self.flatten(x))))))


def build(input_shape: tuple[int, ...], n_out: int, width: int | None, depth: int | None,
          dropout: float, norm: bool) -> nn.Module:
    return ResMLP(input_shape, n_out, width or 512, 2 if depth is None else depth, dropout, norm)


MODEL = ModelSpec("resmlp", "residual MLP (blocks x + [Linear -> LayerNorm -> noise -> ReLU -> "
                  "Dropout -> Linear](x); width 512, 2 blocks)", build, uses_width=True,
                  uses_depth=True)
