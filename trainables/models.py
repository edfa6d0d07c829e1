"""Networks with a Gaussian-noise injection point after every normalised layer.

The noise family's rho is one sigma per ``NoiseInjection`` module; ``noise_points(model)``
lists them so the regularizer can build the sigma vector (``rho/sigma_0``, ``rho/sigma_1``,
...). With every sigma unset or zero each model is exactly the plain network: the noise
points are identities that consume no random numbers, so fixed-lambda training at sigma=0
reproduces plain training bit for bit.

Where the noise sits (always on the normalised pre-activation, before the non-linearity):

- ``mlp``: ``depth`` x [Linear -> LayerNorm -> noise -> ReLU -> Dropout] -> Linear.
- ``cnn`` on (C, L) inputs (MNIST-1D): Greydanus' MNIST-1D CNN (3 conv layers, 25 channels,
  kernels 5/3/3, stride 2, padding 1, ReLU, then one linear layer) with BatchNorm1d -> noise
  after each conv. On (C, H, W) inputs (digits 8x8, 28x28, 32x32): 3x3 convs (the first
  stride 1, the others stride 2) with BatchNorm2d -> noise -> ReLU, then one linear layer.
- ``vgg16``: torchvision ``vgg16_bn`` features (13 conv+BN, 5 max-pools; 32x32 -> 1x1) with
  noise after each BN, then global average pool -> Dropout -> Linear(512, n_out).
- ``resnet18``: torchvision ``resnet18`` with a 3x3 stride-1 stem and no max-pool (the usual
  CIFAR adaptation); every BatchNorm ``bn`` becomes ``Sequential(bn, NoiseInjection())``.
  Inside a BasicBlock that puts noise after bn1 (before its ReLU) and after bn2 on the
  residual branch *before* the addition; a downsampling shortcut's BN gets its own noise
  point; an identity shortcut carries none. 20 points: stem, 2 per block x 8, 3 shortcuts.

Dropout modules are always present (``p`` may be 0: identity, no random numbers), so the
module tree and ``state_dict`` keys do not depend on the dropout probability and PBT can
move weights between trials that differ only in ``p``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

__all__ = ["MODELS", "NoiseInjection", "build_model", "model_names", "noise_points"]


class NoiseInjection(nn.Module):
    """Additive Gaussian noise ``x + sigma * N(0, 1)`` on a normalised pre-activation.

    ``sigma`` (a float, or a 0-d tensor possibly requiring grad) and ``generator`` (a
    ``torch.Generator`` on ``x``'s device, or ``None`` for the default generator) are
    plain attributes set by the noise regularizer; they are not parameters or buffers, so
    they never appear in ``state_dict`` or ``model.parameters()`` (rho is optimised and
    checkpointed by the regularizer). Noise is applied in train *and* eval mode: a noisy
    model is a stochastic predictor, and evaluation averages K samples elsewhere.

    With ``sigma`` None or all-zero the input is returned unchanged (the same tensor) and
    no random numbers are drawn. ``sigma`` may also be a Python float (a frozen value, checked
    for zero without a device sync); a constant tensor's zero check costs one device sync per
    call on a GPU. A sigma that requires grad is always applied, even at 0: its gradient
    there is the noise sample itself, and checking it would cost a sync per step.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sigma: torch.Tensor | float | None = None
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sigma = self.sigma
        if sigma is None:
            return x
        if isinstance(sigma, float):  # a frozen value: checked without touching the device
            if sigma == 0.0:
                return x
        elif not sigma.requires_grad and not bool(torch.any(sigma != 0)):
            return x  # a learned sigma (requires grad) is positive: no per-step device sync
        noise = torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        return x + sigma * noise

    def extra_repr(self) -> str:
        s = self.sigma
        if s is None or isinstance(s, float):
            return f"sigma={s}"
        return f"sigma={s.detach().cpu().tolist()}"


def noise_points(model: nn.Module) -> list[NoiseInjection]:
    """The model's noise points in module-registration order, which is forward order here."""
    return [m for m in model.modules() if isinstance(m, NoiseInjection)]


# --------------------------------------------------------------------------------------
# MLP
# --------------------------------------------------------------------------------------


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


class MLP(nn.Module):
    """Flatten -> ``depth`` x [Linear -> LayerNorm -> noise -> ReLU -> Dropout] -> Linear.

    ``depth=0`` is a linear (softmax / least-squares) model with no noise points.
    """

    def __init__(
        self, input_shape: tuple[int, ...], n_out: int, width: int, depth: int,
        dropout: float, norm: bool,
    ) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        blocks = []
        d_in = _numel(input_shape)
        for _ in range(depth):
            blocks.append(nn.Sequential(OrderedDict([
                ("linear", nn.Linear(d_in, width)),
                ("norm", nn.LayerNorm(width) if norm else nn.Identity()),
                ("noise", NoiseInjection()),
                ("act", nn.ReLU()),
                ("drop", nn.Dropout(dropout)),
            ])))
            d_in = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(d_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.flatten(x)))


# --------------------------------------------------------------------------------------
# Small CNNs
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# torchvision networks adapted to 32x32
# --------------------------------------------------------------------------------------


def _with_noise_after_batchnorm(module: nn.Module) -> None:
    """Replace every BatchNorm ``bn`` below ``module`` by ``Sequential(bn, NoiseInjection())``.

    Children are visited in registration order, so noise points come out in forward order.
    """
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Sequential(child, NoiseInjection()))
        else:
            _with_noise_after_batchnorm(child)


def _check_image(name: str, input_shape: tuple[int, ...], min_side: int) -> None:
    if len(input_shape) != 3 or min(input_shape[1:]) < min_side:
        raise ValueError(
            f"{name} needs image inputs (C, H, W) with H, W >= {min_side}, got {input_shape}; "
            "load the data with flatten=False")


def _vgg16(input_shape: tuple[int, ...], n_out: int, dropout: float) -> nn.Module:
    """torchvision vgg16_bn features (cfg "D" + BN) + global pool + Dropout + Linear(512, n_out).

    The five max-pools take 32x32 to 1x1, so the 4096-wide ImageNet classifier is replaced
    by a single linear layer on the 512 channels (the common CIFAR VGG). Inits follow
    torchvision's VGG: kaiming-normal (fan_out) convs, N(0, 0.01) linear.
    """
    from torchvision.models.vgg import cfgs, make_layers

    _check_image("vgg16", input_shape, 32)
    # vgg16_bn's own feature stack; building vgg16_bn() whole would also draw the unused
    # 25088x4096 ImageNet classifier (seconds of CPU per model).
    features = make_layers(cfgs["D"], batch_norm=True)
    if input_shape[0] != 3:
        features[0] = nn.Conv2d(input_shape[0], 64, kernel_size=3, padding=1)
    for m in features.modules():  # torchvision VGG's init
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    _with_noise_after_batchnorm(features)
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


def _resnet18(input_shape: tuple[int, ...], n_out: int, dropout: float) -> nn.Module:
    """torchvision resnet18 with a 3x3 stride-1 stem, no max-pool, Dropout before fc."""
    from torchvision.models import resnet18

    _check_image("resnet18", input_shape, 8)
    net = resnet18(weights=None, num_classes=n_out)
    stem = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(stem.weight, mode="fan_out", nonlinearity="relu")
    net.conv1 = stem
    net.maxpool = nn.Identity()
    net.fc = nn.Sequential(OrderedDict([("drop", nn.Dropout(dropout)), ("linear", net.fc)]))
    _with_noise_after_batchnorm(net)
    return net


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------


def _build_mlp(input_shape, n_out, width, depth, dropout, norm):
    return MLP(input_shape, n_out, width or 512, 2 if depth is None else depth, dropout, norm)


def _build_cnn(input_shape, n_out, width, depth, dropout, norm):
    default_channels = 25 if len(input_shape) == 2 else 32
    return ConvNet(input_shape, n_out, width or default_channels,
                   3 if depth is None else depth, dropout, norm)


def _build_vgg16(input_shape, n_out, width, depth, dropout, norm):
    if not norm:
        raise ValueError("vgg16 is the batch-normalised VGG; norm=False is not supported")
    return _vgg16(input_shape, n_out, dropout)


def _build_resnet18(input_shape, n_out, width, depth, dropout, norm):
    if not norm:
        raise ValueError("resnet18 always uses BatchNorm; norm=False is not supported")
    return _resnet18(input_shape, n_out, dropout)


def _build_linear(input_shape, n_out, width, depth, dropout, norm):
    """A linear (least-squares / softmax) model: the MLP with no hidden layer, so the l1/l2
    families find its one weight matrix like any other."""
    return MLP(input_shape, n_out, 1, 0, dropout, norm)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "linear": _build_linear,
    "mlp": _build_mlp,
    "cnn": _build_cnn,
    "vgg16": _build_vgg16,
    "resnet18": _build_resnet18,
}


#: the least ``depth`` of the models that have one (the others ignore width and depth)
_MIN_DEPTH = {"mlp": 0, "cnn": 1}


def model_names() -> list[str]:
    """Known model names, sorted."""
    return sorted(MODELS)


def build_model(
    name: str,
    input_shape: tuple[int, ...] | list[int],
    n_out: int,
    *,
    width: int | None = None,
    depth: int | None = None,
    dropout: float = 0.0,
    norm: bool = True,
) -> nn.Module:
    """Build model ``name`` for per-sample ``input_shape`` with ``n_out`` outputs.

    ``width``/``depth`` default per model (None): ``mlp`` 512 wide, 2 hidden layers; ``cnn``
    ``width`` channels (25 for 1-D as in Greydanus, 32 for 2-D) and ``depth`` conv layers (3).
    ``vgg16``/``resnet18`` have fixed architectures and ``linear`` has no hidden layer: they
    ignore both. Weights are drawn from
    torch's default generator: seed it (``torch.manual_seed``) before calling for a
    reproducible model.
    """
    builder = MODELS.get(name)
    if builder is None:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(model_names())}")
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {input_shape!r}")
    if int(n_out) < 1:
        raise ValueError(f"n_out must be >= 1, got {n_out!r}")
    if width is not None and int(width) < 1:
        raise ValueError(f"width must be >= 1, got {width!r}")
    min_depth = _MIN_DEPTH.get(name)
    if depth is not None and min_depth is not None and int(depth) < min_depth:
        raise ValueError(f"depth must be >= {min_depth} for {name}, got {depth!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    return builder(shape, int(n_out), None if width is None else int(width),
                   None if depth is None else int(depth), float(dropout), bool(norm))
