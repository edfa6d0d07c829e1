"""``vgg16``: torchvision ``vgg16_bn`` features for 32x32 images, noise after each BatchNorm.

13 conv + BN layers and 5 max-pools (32x32 -> 1x1), a noise point after each BN (13 points),
then global average pool -> Dropout -> Linear(512, n_out). Fixed architecture: ``width`` and
``depth`` are ignored.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .noise import wrap_batchnorms
from .spec import ModelSpec, check_image


def vgg16(input_shape: tuple[int, ...], n_out: int, dropout: float) -> nn.Module:
    """torchvision vgg16_bn features (cfg "D" + BN) + global pool + Dropout + Linear(512, n_out).

    The five max-pools take 32x32 to 1x1, so the 4096-wide ImageNet classifier is replaced
    by a single linear layer on the 512 channels (the common CIFAR VGG). Inits follow
    torchvision's VGG: kaiming-normal (fan_out) convs, N(0, 0.01) linear.
    """
    from torchvision.models.vgg import cfgs, make_layers

    check_image("vgg16", input_shape, 32)
    # vgg16_bn's own feature stack; building vgg16_bn() whole would also draw the unused
    # 25088x4096 ImageNet classifier (seconds of CPU per model).
    features = make_layers(cfgs["D"], batch_norm=True)
    if input_shape[0] != 3:
        features[0] = nn.Conv2d(input_shape[0], 64, kernel_size=3, padding=1)
    for m in features.modules():  # torchvision VGG's init
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:  # make_layers' convs all have one
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    wrap_batchnorms(features)
    head = nn.Linear(512, n_out)
    nn.init.normal_(head.weight, 0.0, 0.01)
    nn.init.zeros_(head.bias)
    return nn.Sequential(OrderedDict([
        ("features", features),
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("drop", nn.Dropout(dropout)),
        ("head", head),
    ]))


def build(input_shape: tuple[int, ...], n_out: int, width: int | None, depth: int | None,
          dropout: float, norm: bool) -> nn.Module:
    if not norm:
        raise ValueError("vgg16 is the batch-normalised VGG; norm=False is not supported")
    return vgg16(input_shape, n_out, dropout)


MODEL = ModelSpec("vgg16", "VGG-16 with BatchNorm for 32x32 images (torchvision vgg16_bn "
                  "features, one linear layer)", build)
