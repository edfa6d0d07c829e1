"""``cnn``: small convolutional networks with a noise point after every BatchNorm.

On (C, L) inputs (MNIST-1D): Greydanus' MNIST-1D CNN (3 conv layers, 25 channels, kernels
5/3/3, stride 2, padding 1, ReLU, then one linear layer) with BatchNorm1d -> noise after each
conv. On (C, H, W) inputs (digits 8x8, 28x28, 32x32): 3x3 convs (the first stride 1, the
others stride 2) with BatchNorm2d -> noise -> ReLU, then one linear layer. ``width`` is the
channel count (25 for 1-D as in Greydanus, 32 for 2-D) and ``depth`` the number of conv
layers (3).

The 2-D network's ``pool`` option chooses how it downsamples: ``"none"`` (the default: the
stride-2 convolutions above), ``"max"`` (every conv stride 1, each former stride-2 block
followed by 2x2 max-pooling after its ReLU: 8x8 digits -> 8, 4, 2 as before) or
``"fractional"`` (the same places, fractional max-pooling, Graham 2014: `FractionalMaxPool2d`
shrinks each side by ``pool_ratio`` in (1, 2], default sqrt(2) as in Graham's networks, so
8x8 digits -> 8, 5, 3). With ``pool_ratio=2`` on even sides fractional pooling is exactly
2x2 max-pooling (tested): it is the fixed twin of the random one.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .noise import NoiseInjection
from .spec import ModelSpec


class FractionalMaxPool2d(nn.Module):
    """Fractional max-pooling (Graham 2014) of 2x2 windows that shrinks each side by ``ratio``.

    An input side n becomes ``int(n / ratio)``; the windows start at Graham's pseudorandom
    sequence a_i = floor(alpha (i + u)) - floor(alpha u), alpha = (n - 2) / (n_out - 1)
    (``torch.nn.functional.fractional_max_pool2d``), so consecutive windows overlap or abut
    and every input cell is covered. In training u ~ U[0, 1) is drawn per example (one draw
    for both axes' offsets of all its channels: the pooling regions are a property of the
    image, as in Graham's paper) from ``generator``, never from torch's global generator: a
    trial attaches one of its own seeded streams (`trainables.models.attach_generator`); built
    alone the module has a private generator seeded 0. Evaluation is one deterministic pass
    with u = 0.5 (no draw; Graham also averages several random passes at test time, not done
    here). With ``ratio=2`` on an even side the windows are those of 2x2 max-pooling for
    every u.
    """

    def __init__(self, ratio: float) -> None:
        super().__init__()
        if not 1 < ratio <= 2:
            raise ValueError(f"pool_ratio must lie in (1, 2], got {ratio!r}")
        self.ratio = float(ratio)
        self.generator = torch.Generator().manual_seed(0)

    def output_size(self, side: int) -> int:
        return int(side / self.ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        out = (self.output_size(x.shape[-2]), self.output_size(x.shape[-1]))
        if min(out) < 1:
            raise ValueError(f"fractional max-pooling by {self.ratio} cannot shrink a "
                             f"{tuple(x.shape[-2:])} feature map (it needs sides >= 2)")
        if self.training:
            u = torch.rand((n, 1, 2), generator=self.generator, device=self.generator.device)
        else:
            u = torch.full((n, 1, 2), 0.5)
        samples = u.to(device=x.device, dtype=x.dtype).expand(n, c, 2).contiguous()
        return F.fractional_max_pool2d(x, 2, output_size=out, _random_samples=samples)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}"


def _pooling(pool: str, ratio: float | None) -> nn.Module:
    if pool == "max":
        return nn.MaxPool2d(2)
    return FractionalMaxPool2d(math.sqrt(2) if ratio is None else ratio)


def _pooling_ratio(pool: nn.Module) -> float:
    return pool.ratio if isinstance(pool, FractionalMaxPool2d) else 2.0


def _pooled_side(pool: nn.Module, side: int) -> int:
    return pool.output_size(side) if isinstance(pool, FractionalMaxPool2d) else side // 2


class ConvNet(nn.Module):
    """Conv blocks [Conv -> BatchNorm -> noise -> ReLU -> Dropout] -> Flatten -> Linear.

    1-D (inputs (C, L)): Greydanus' MNIST-1D CNN — kernel 5 then 3, 3; stride 2; padding 1;
    25 channels; on length 40 the feature map is 25 x 5 = 125 wide, as in the reference.
    2-D (inputs (C, H, W)): 3x3 convs, padding 1, the first stride 1 and the others stride 2
    (8x8 digits -> 8, 4, 2), keeping spatial detail for the linear head on tiny images.
    2-D with ``pool`` "max" or "fractional": every conv stride 1, and a pooling layer after
    the ReLU of each block that had stride 2 (see the module doc).
    """

    def __init__(
        self, input_shape: tuple[int, ...], n_out: int, channels: int, depth: int,
        dropout: float, norm: bool, pool: str = "none", pool_ratio: float | None = None,
    ) -> None:
        super().__init__()
        if pool not in ("none", "max", "fractional"):
            raise ValueError(f"pool must be 'none', 'max' or 'fractional', got {pool!r}")
        if pool_ratio is not None and pool != "fractional":
            raise ValueError(f"pool_ratio={pool_ratio!r} applies to pool='fractional' only")
        conv: type[nn.Conv1d | nn.Conv2d]
        bn: type[nn.BatchNorm1d | nn.BatchNorm2d]
        if len(input_shape) == 2:
            if pool != "none":
                raise ValueError(f"pool={pool!r} is an option of the 2-D cnn (inputs (C, H, W)); "
                                 f"these inputs are {input_shape} (C, L)")
            conv, bn = nn.Conv1d, nn.BatchNorm1d
            kernels = [5] + [3] * (depth - 1)
            strides = [2] * depth
        elif len(input_shape) == 3:
            conv, bn = nn.Conv2d, nn.BatchNorm2d
            kernels = [3] * depth
            strides = [1] + [2] * (depth - 1)
        else:
            raise ValueError(
                f"cnn needs inputs shaped (C, L) or (C, H, W), got {input_shape}; "
                "load the data with flatten=False")
        blocks = []
        c_in = int(input_shape[0])
        sides = [int(side) for side in input_shape[1:]]  # a pooled network's feature map
        for k, s in zip(kernels, strides):
            layers: list[tuple[str, nn.Module]] = [
                ("conv", conv(c_in, channels, k, stride=1 if pool != "none" else s, padding=1)),
                ("norm", bn(channels) if norm else nn.Identity()),
                ("noise", NoiseInjection()),
                ("act", nn.ReLU()),
            ]
            if pool != "none" and s == 2:
                layers.append(("pool", _pooling(pool, pool_ratio)))
                sides = [_pooled_side(layers[-1][1], side) for side in sides]
                if min(sides) < 1:
                    raise ValueError(f"cnn with depth {depth} and pool={pool!r} shrinks input "
                                     f"{input_shape} to nothing (each pooling divides the sides "
                                     f"by {_pooling_ratio(layers[-1][1])}); use fewer layers")
            layers.append(("drop", nn.Dropout(dropout)))
            blocks.append(nn.Sequential(OrderedDict(layers)))
            c_in = channels
        self.blocks = nn.Sequential(*blocks)
        self.flatten = nn.Flatten()
        # Shape inference only: no gradients, no random numbers from torch's global generator,
        # and in eval mode, so the probe never updates BatchNorm's running statistics (in train
        # mode it did, leaving running means that hung on the CPU's float reductions)
        self.blocks.eval()
        with torch.no_grad():
            n_flat = self.blocks(torch.zeros(1, *input_shape)).numel()
        self.blocks.train()
        if n_flat == 0:
            raise ValueError(f"cnn with depth {depth} shrinks input {input_shape} to nothing")
        self.head = nn.Linear(n_flat, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(self.blocks(x)))


def build(input_shape: tuple[int, ...], n_out: int, width: int | None, depth: int | None,
          dropout: float, norm: bool, pool: str = "none",
          pool_ratio: float | None = None) -> nn.Module:
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be >= 1 for cnn, got {depth!r}")
    default_channels = 25 if len(input_shape) == 2 else 32
    return ConvNet(input_shape, n_out, width or default_channels, 3 if depth is None else depth,
                   dropout, norm, pool, pool_ratio)


MODEL = ModelSpec("cnn", "small CNN with BatchNorm and a noise point per conv layer (1-D: "
                  "Greydanus' MNIST-1D CNN; 2-D: 3x3 convs, strided or pooled: pool = none, "
                  "max, fractional)", build, uses_width=True, uses_depth=True,
                  options=("pool", "pool_ratio"))
