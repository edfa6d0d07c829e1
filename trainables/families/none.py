"""``none``: no regularizer (plain training); nothing to learn or search."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..regularizers import Family, Regularizer

if TYPE_CHECKING:
    from ..config import TrialConfig


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return ()


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> Regularizer:
    return Regularizer(learned=False)


FAMILY = Family(
    name="none",
    description="no regularization: plain training (the reference every family is compared to)",
    learnable=False,
    stochastic=False,
    search_range=None,
    rho_names=rho_names,
    build=build,
)
