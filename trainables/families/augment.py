"""``augment``: magnitudes of a random affine warp (translate px, rotate deg, shear) on images.

rho is the three magnitudes ``translate``, ``rotate`` and ``shear``, whatever the model. Each
sample draws u ~ U(-1, 1)^4 and is warped by rotation rotate*u0 degrees, shear shear*u1 and
translation translate*(u2, u3) pixels, through `affine_grid` and bilinear `grid_sample`, which
are differentiable in the magnitudes (reparameterisation): one warp for a theta step, K warps
for a rho step. Evaluation does not warp.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..coerce import ConfigError
from ..regularizers import Family, Regularizer, expand_rho

if TYPE_CHECKING:
    from ..config import TrialConfig

AUGMENT_NAMES = ("translate", "rotate", "shear")


class AugmentFamily(Regularizer):
    """Magnitudes of a random affine warp on (N, C, H, W) inputs (see the module doc)."""

    stochastic = True

    def __init__(self, magnitudes: Sequence[float], learned: bool, generator: torch.Generator | None,
                 image_size: tuple[int, int]) -> None:
        super().__init__(learned)
        values = torch.tensor([float(m) for m in magnitudes], dtype=torch.float32)
        self.magnitude: torch.Tensor
        if learned:
            self.magnitude = nn.Parameter(values)
        else:
            self.register_buffer("magnitude", values)
        self.generator = generator
        self.image_size = image_size

    def rho_values(self) -> dict[str, float]:
        return {n: float(m) for n, m in zip(AUGMENT_NAMES, self.magnitude.detach().cpu())}

    def transform_inputs(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        x = super().transform_inputs(x, n_samples)
        if not bool((self.magnitude != 0).any()) and not self.learned:
            return x
        n = x.shape[0]
        u = torch.rand((n, 4), generator=self.generator, device=x.device, dtype=x.dtype) * 2 - 1
        translate, rotate, shear = self.magnitude.to(x.dtype)
        angle = rotate * u[:, 0] * (math.pi / 180.0)
        sh = shear * u[:, 1]
        h, w = self.image_size
        tx = translate * u[:, 2] * (2.0 / w)  # pixels -> normalised [-1, 1] coordinates
        ty = translate * u[:, 3] * (2.0 / h)
        cos, sin = torch.cos(angle), torch.sin(angle)
        mat = torch.stack([
            torch.stack([cos, -sin + sh * cos, tx], dim=1),
            torch.stack([sin, cos + sh * sin, ty], dim=1),
        ], dim=1)
        grid = F.affine_grid(mat, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    @torch.no_grad()
    def after_rho_step(self) -> None:
        self.magnitude.clamp_(min=0.0)


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    if len(input_shape) != 3:
        raise ConfigError(f"family='augment' needs image inputs (C, H, W); the dataset's "
                          f"per-sample shape is {input_shape}")
    return AUGMENT_NAMES


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> AugmentFamily:
    names = rho_names(model, input_shape)
    return AugmentFamily(expand_rho(config.rho, names, "augment"), config.learned, generator,
                         (int(input_shape[1]), int(input_shape[2])))


FAMILY = Family(
    name="augment",
    description="random affine warp of image inputs: translate (px), rotate (deg), shear",
    learnable=True,
    stochastic=True,
    search_range=(1e-2, 3.0),
    rho_names=rho_names,
    build=build,
)
