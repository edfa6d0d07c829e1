"""``cnn``: small convolutional networks with a noise point after every BatchNorm.

On (C, L) inputs (MNIST-1D): Greydanus' MNIST-1D CNN (3 conv layers, 25 channels, kernels
5/3/3, stride 2, padding 1, ReLU, then one linear layer) with BatchNorm1d -> noise after each
conv. On (C, H, W) inputs (digits 8x8, 28x28, 32x32): 3x3 convs (the first stride 1, the
others stride 2) with BatchNorm2d -> noise -> ReLU, then one linear layer. ``width`` is the
channel count (25 for 1-D as in Greydanus, 32 for 2-D) and ``depth`` the number of conv
layers (3).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .noise import NoiseInjection
from .spec import ModelSpec


class ConvNet(nn.Module):
    """Conv blocks [Conv -> BatchNorm -> noise -> ReLU -> Dropout] -> Flatten -> Linear.

    1-D (inputs (C, L)): Greydanus' MNIST-1D CNN — kernel 5 then 3, 3; stride 2; padding 1;
    25 channels; on length 40 the feature map is 25 x 5 = 125 wide, as in the reference.
    2-D (inputs (C, H, W)): 3x3 convs, padding 1, the first stride 1 and the others stride 2
    (8x8 digits -> 8, 4, 2), keeping spatial detail for the linear head on tiny images.
    """

    def __init__(
        self, input_shape: tuple[int, ...], n_out: int, channels: int, depth: int,
        dropout: float, norm: bool,
    ) -> None:
        super().__init__()
        conv: type[nn.Conv1d | nn.Conv2d]
        bn: type[nn.BatchNorm1d | nn.BatchNorm2d]
        if len(input_shape) == 2:
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
        for k, s in zip(kernels, strides):
            blocks.append(nn.Sequential(OrderedDict([
                ("conv", conv(c_in, channels, k, stride=s, padding=1)),
                ("norm", bn(channels) if norm else nn.Identity()),
                ("noise", NoiseInjection()),
                ("act", nn.ReLU()),
                ("drop", nn.Dropout(dropout)),
            ])))
            c_in = channels
        self.blocks = nn.Sequential(*blocks)
        self.flatten = nn.Flatten()
        with torch.no_grad():  # shape inference only; draws no random numbers
            n_flat = self.blocks(torch.zeros(1, *input_shape)).numel()
        if n_flat == 0:
            raise ValueError(f"cnn with depth {depth} shrinks input {input_shape} to nothing")
        self.head = nn.Linear(n_flat, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(self.blocks(x)))


def build(input_shape: tuple[int, ...], n_out: int, width: int | None, depth: int | None,
          dropout: float, norm: bool) -> nn.Module:
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be >= 1 for cnn, got {depth!r}")
    default_channels = 25 if len(input_shape) == 2 else 32
    return ConvNet(input_shape, n_out, width or default_channels, 3 if depth is None else depth,
                   dropout, norm)


MODEL = ModelSpec("cnn", "small CNN with BatchNorm and a noise point per conv layer (1-D: "
                  "Greydanus' MNIST-1D CNN; 2-D: 3x3 convs)", build, uses_width=True,
                  uses_depth=True)
