"""TrivialAugment (Müller & Hutter, ICCV 2021) on every theta step's images: torchvision's
`TrivialAugmentWide`, one uniformly drawn operation at one uniformly drawn strength per image,
no search and no augmentation parameter to tune (``trivial_augment=True`` in a TrialConfig).

Pinned: torchvision's `TrivialAugmentWide()` defaults, which are the paper's "wide" space:
14 operations (identity, shear x/y, translate x/y, rotate, brightness, colour, contrast,
sharpness, posterize, solarize, autocontrast, equalize), 31 magnitude bins, nearest
interpolation, fill 0. Only theta steps see it: rho steps, evaluation and the test split
never do.

What is done to a batch, which arrives normalised (float, the training split's statistics):

1. the normalisation is undone (``Splits.info["normalisation"]``) and the pixels are mapped
   linearly onto 0..255 and rounded to uint8, [lo, hi] being the training split's pixel range
   (TrivialAugmentWide's posterize and solarize are defined on uint8 images). For the uint8
   datasets (CIFAR, SVHN) that range is 0..1 after the loader's /255, so this is the original
   bytes; for ``digits`` (values 0..16) it is 17 grey levels spread over 0..255, each
   rounded by at most half a level (about 0.005 of a standard deviation once normalised).
2. an image smaller than 32 pixels (``digits``: 8x8) is enlarged by the integer factor
   f = ceil(32 / min(H, W)) with nearest neighbours before the transform and average-pooled by
   f afterwards, so the geometric magnitudes, given in pixels of the 32x32 images the space
   was designed on (translations up to 32 px), keep their size relative to the image
   (enlarging and pooling alone give the image back exactly).
3. each image goes through `TrivialAugmentWide` on its own (called on a batch it would apply
   one operation to all of them), then the batch is normalised again.

Reproducibility: torchvision draws the operation, the strength and the sign from torch's
global CPU generator. Around each batch that generator's state is swapped for this
transform's own (a stream of the run's seed, checkpointed with the engine) and put back
afterwards, so a run is reproducible from its seed and its checkpoint and leaves the
process's random state as it found it.

Cost: the transform is elementwise and geometric work on the host or device, no matmul: it
adds no FLOPs and no forward pass; its time is in ``train_seconds``/``device_seconds``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from .config import ConfigError

if TYPE_CHECKING:
    from .datasets import Splits

#: the image side the TrivialAugmentWide space is defined on (CIFAR's 32x32)
DESIGN_SIZE = 32


def check_images(dataset: str, input_shape: tuple[int, ...]) -> None:
    """A ConfigError unless the dataset's samples are images (C, H, W) with 1 or 3 channels."""
    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise ConfigError(
            f"trivial_augment=True: dataset {dataset!r} has per-sample shape {tuple(input_shape)}; "
            "TrivialAugmentWide needs images (C, H, W) with 1 or 3 channels")


class TrivialAugment:
    """TrivialAugmentWide on normalised image batches (see the module doc)."""

    def __init__(self, splits: Splits, generator: torch.Generator) -> None:
        from torchvision.transforms import TrivialAugmentWide

        check_images(str(splits.info.get("dataset", "?")), splits.input_shape)
        c, h, w = splits.input_shape
        x = splits.train.x
        norm = splits.info["normalisation"]
        mean = torch.tensor(norm["mean"], dtype=x.dtype, device=x.device)
        std = torch.tensor(norm["std"], dtype=x.dtype, device=x.device)
        # per channel ("channel" statistics) or per pixel ("feature" statistics)
        shape = (1, c, 1, 1) if mean.numel() == c else (1, c, h, w)
        self.mean, self.std = mean.reshape(shape), std.reshape(shape)
        raw = x * self.std + self.mean
        self.lo = float(raw.min())
        self.hi = max(float(raw.max()), self.lo + 1e-6)
        self.factor = max(1, math.ceil(DESIGN_SIZE / min(h, w)))
        self.transform = TrivialAugmentWide()
        if generator.device.type != "cpu":
            raise ValueError("TrivialAugment draws from torch's CPU generator: give a CPU generator")
        self.generator = generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raw = x * self.std + self.mean
        if self.factor > 1:
            raw = F.interpolate(raw, scale_factor=self.factor, mode="nearest")
        scale = 255.0 / (self.hi - self.lo)
        images = ((raw - self.lo) * scale).round().clamp(0, 255).to(torch.uint8)
        with self._own_global_generator():
            out = torch.stack([self.transform(image) for image in images])
        raw = out.to(x.dtype) / scale + self.lo
        if self.factor > 1:
            raw = F.avg_pool2d(raw, self.factor)
        return (raw - self.mean) / self.std

    @contextlib.contextmanager
    def _own_global_generator(self) -> Iterator[None]:
        """Inside: torch's global CPU generator continues this transform's stream; after, the
        stream's new state is kept and the global state is put back."""
        saved = torch.random.get_rng_state()
        torch.random.set_rng_state(self.generator.get_state())
        try:
            yield
        finally:
            self.generator.set_state(torch.random.get_rng_state())
            torch.random.set_rng_state(saved)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


__all__ = ["DESIGN_SIZE", "TrivialAugment", "check_images"]
