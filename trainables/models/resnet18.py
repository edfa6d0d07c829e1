"""``resnet18``: torchvision ``resnet18`` adapted to 32x32 images, noise after each BatchNorm.

A 3x3 stride-1 stem and no max-pool (the usual CIFAR adaptation); every BatchNorm ``bn``
becomes ``Sequential(bn, NoiseInjection())``. Inside a BasicBlock that puts noise after bn1
(before its ReLU) and after bn2 on the residual branch *before* the addition; a downsampling
shortcut's BN gets its own noise point; an identity shortcut carries none. 20 points: stem,
2 per block x 8, 3 shortcuts. Fixed architecture: ``width`` and ``depth`` are ignored.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .noise import wrap_batchnorms
from .spec import ModelSpec, check_image


def resnet18(input_shape: tuple[int, ...], n_out: int, dropout: float) -> nn.Module:
    """torchvision resnet18 with a 3x3 stride-1 stem, no max-pool, Dropout before fc."""
    from torchvision.models import resnet18 as tv_resnet18

    check_image("resnet18", input_shape, 8)
    net = tv_resnet18(weights=None, num_classes=n_out)
    stem = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(stem.weight, mode="fan_out", nonlinearity="relu")
    net.conv1 = stem
    net.maxpool = nn.Identity()
    net.fc = nn.Sequential(OrderedDict([("drop", nn.Dropout(dropout)), ("linear", net.fc)]))
    wrap_batchnorms(net)
    return net


def build(input_shape: tuple[int, ...], n_out: int, width: int | None, depth: int | None,
          dropout: float, norm: bool) -> nn.Module:
    if not norm:
        raise ValueError("resnet18 always uses BatchNorm; norm=False is not supported")
    return resnet18(input_shape, n_out, dropout)


MODEL = ModelSpec("resnet18", "ResNet-18 for 32x32 images (3x3 stem, no max-pool), noise after "
                  "every BatchNorm", build)
