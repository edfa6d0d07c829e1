"""``linear``: a linear (least-squares / softmax) model, the MLP with no hidden layer.

Its one weight matrix is what the l1 / l2 families regularize; it has no noise points and
ignores ``width`` and ``depth``.
"""

from __future__ import annotations

from torch import nn

from .mlp import MLP
from .spec import ModelSpec


def build(input_shape: tuple[int, ...], n_out: int, width: int | None, depth: int | None,
          dropout: float, norm: bool) -> nn.Module:
    return MLP(input_shape, n_out, 1, 0, dropout, norm)


MODEL = ModelSpec("linear", "linear model (one weight matrix), for the l1 / l2 families", build)
