"""``mlp``: Flatten -> ``depth`` x [Linear -> LayerNorm -> noise -> ReLU -> Dropout] -> Linear.

One noise point per hidden layer, on the normalised pre-activation (``rho/sigma_0``, ...).
``width`` defaults to 512 and ``depth`` to 2; ``depth=0`` is a linear (softmax /
least-squares) model with no noise points. The Dropout modules are always present (``p`` may
be 0: identity, no random numbers), so the module tree and ``state_dict`` keys do not depend on
the dropout probability and PBT can move weights between trials that differ only in ``p``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .noise import NoiseInjection
from .spec import ModelSpec, numel


class MLP(nn.Module):
    """Flatten -> ``depth`` x [Linear -> LayerNorm -> noise -> ReLU -> Dropout] -> Linear."""

    def __init__(
        self, input_shape: tuple[int, ...], n_out: int, width: int, depth: int,
        dropout: float, norm: bool,
    ) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        blocks = []
        d_in = numel(input_shape)
        for _ in range(depth):
            blocks.append(nn.Sequential(OrderedDict([
                ("linear", nn.Linear(d_in, width)),
                ("norm", nn.LayerNorm(width) if norm else nn.Identity()),
                ("noise", NoiseInjection()),
                ("act", nn.ReLU()),
                ("drop", nn.Dropout(dropout)),
            ])))
            d_in = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(d_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.flatten(x)))


def build(input_shape: tuple[int, ...], n_out: int, width: int | None, depth: int | None,
          dropout: float, norm: bool) -> nn.Module:
    return MLP(input_shape, n_out, width or 512, 2 if depth is None else depth, dropout, norm)


MODEL = ModelSpec("mlp", "multi-layer perceptron with LayerNorm and a noise point per hidden "
                  "layer (width 512, depth 2)", build, uses_width=True, uses_depth=True)
