"""The linear model of the estimators and the second-moment statistics of a split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

#: the estimators work in float64: their fixed points are compared with closed forms
DTYPE = torch.float64


class LinearModel(nn.Module):
    """``f(z) = z_pen @ w + z_free @ a``: a penalised block and an (optional) free block."""

    def __init__(self, p_pen: int, p_free: int) -> None:
        super().__init__()
        self.p_pen = p_pen
        self.pen = nn.Linear(p_pen, 1, bias=False, dtype=DTYPE)
        self.free = nn.Linear(p_free, 1, bias=False, dtype=DTYPE) if p_free else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.pen(z[:, :self.p_pen])
        if self.free is not None:
            out = out + self.free(z[:, self.p_pen:])
        return out


@dataclass
class Quadratic:
    """Second-moment statistics of one split: the MSE is ``w^T C w - 2 q^T w + const``."""

    C: torch.Tensor
    q: torch.Tensor

    @classmethod
    def of(cls, Z: torch.Tensor, y: torch.Tensor) -> Quadratic:
        n = Z.shape[0]
        return cls(Z.T @ Z / n, Z.T @ y / n)


def original(module: nn.Module) -> torch.Tensor:
    """The unconstrained ``weight`` of a parametrised module (the level-set v)."""
    parametrizations = cast(nn.ModuleDict, module.parametrizations)
    return cast(torch.Tensor, parametrizations["weight"].original)


def pen_param(model: LinearModel) -> torch.Tensor:
    """The theta the engine steps for the penalised block (the level-set ``original`` v)."""
    return original(model.pen)

