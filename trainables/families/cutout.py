"""``cutout``: a random square of the input image set to zero at each training step.

Cutout (DeVries & Taylor 2017) masks a ``size x size`` square at a centre drawn uniformly over
the image, independently per example; the square may reach past the border and is clipped
there (so a patch near an edge masks less, as in the paper). rho ``size`` is the side in
pixels: pixels with ``c - size/2 <= i < c + size/2`` in each spatial axis are zeroed, which is
exactly ``size`` of them for an integer size away from the border. Images are (C, H, W); on
(C, L) signals (MNIST-1D) the same rule cuts a segment of ``size`` samples. The centres come
from the regularizer's generator, through the `Regularizer.transform_inputs` hook, which the
engine applies to training batches only: evaluation sees the whole image.

Not learnable: the mask is an indicator of integer pixel positions, so the loss has no
gradient in the size. A soft-edged mask would give one (not built): its rho step would score
the model on masked validation inputs, an objective that plausibly favours no mask at all.
Size 0 leaves the inputs untouched and draws nothing: the fixed twin at 0 is plain training
bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..coerce import ConfigError
from ..regularizers import Family, Regularizer, expand_rho

if TYPE_CHECKING:
    from ..config import TrialConfig

NAMES = ("size",)


class CutoutFamily(Regularizer):
    """Zero a random ``size``-wide square (segment) of each input (see the module doc)."""

    def __init__(self, size: float, generator: torch.Generator | None) -> None:
        super().__init__(learned=False)
        self.size = float(size)
        self.generator = generator

    def rho_values(self) -> dict[str, float]:
        return {"size": self.size}

    def transform_inputs(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        x = super().transform_inputs(x, n_samples)
        if self.size == 0.0:
            return x
        cut = torch.ones((x.shape[0],) + (1,) * (x.dim() - 1), dtype=torch.bool, device=x.device)
        half = self.size / 2.0
        for axis in range(2, x.dim()):  # the spatial axes: a square is the product of intervals
            length = x.shape[axis]
            centre = torch.randint(length, (x.shape[0],), generator=self.generator,
                                   device=x.device, dtype=torch.float32)
            position = torch.arange(length, device=x.device, dtype=torch.float32)
            inside = (position >= centre[:, None] - half) & (position < centre[:, None] + half)
            shape = [x.shape[0]] + [1] * (x.dim() - 1)
            shape[axis] = length
            cut = cut & inside.reshape(shape)  # inside on every axis: the square
        return x * (~cut).to(x.dtype)


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    if len(input_shape) not in (2, 3):
        raise ConfigError(f"family='cutout' needs images (C, H, W) or signals (C, L); the "
                          f"dataset's per-sample shape is {input_shape}")
    return NAMES


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> CutoutFamily:
    (size,) = expand_rho(config.rho, rho_names(model, input_shape), "cutout")
    return CutoutFamily(size, generator)


FAMILY = Family(
    name="cutout",
    description="cutout: a random size x size square (a segment on signals) of each training "
                "input set to zero (not learnable: the mask has no gradient in its size)",
    learnable=False,
    stochastic=False,
    # pixels; DeVries & Taylor used 16 on 32x32 CIFAR-10 (lower rho_high for 8x8 digits)
    search_range=(1.0, 16.0),
    rho_names=rho_names,
    build=build,
)
