"""Noise points: where the noise family adds Gaussian noise to a network's activations.

A noise point is a `NoiseInjection` module. The built-in models place one after every
normalised layer themselves (on the normalised pre-activation, before the non-linearity). A
model that has none (a user's own ``build``) gets one after every BatchNorm / LayerNorm /
GroupNorm module from `attach_noise_points`: the point becomes a child of the norm module and a
forward hook feeds it the norm's output, so the user's module tree, attribute access and
``state_dict`` keys stay as they were (a NoiseInjection holds no parameters or buffers).

Where the noise enters a normalised layer (``noise_at``): by default on the norm's output,
after its affine scale (``h = gamma * u_hat + beta + sigma * eps``), where theta can outgrow a
fixed sigma by growing gamma. ``before_affine`` puts it on the normalised pre-activation
``u_hat`` as the paper writes it, ``h = gamma * (u_hat + sigma * eps) + beta``; since that is
``gamma * u_hat + beta + sigma * gamma * eps``, the point keeps its place after the norm and
scales its draw by the norm's ``gamma`` (`NoiseInjection.scale_with`, `norms_before`): the same
random numbers, the same gradients (dh/dgamma = u_hat + sigma * eps), no change to the model.
"""

from __future__ import annotations

import torch
from torch import nn

#: the normalisation layers a noise point is attached after, when the model marks none itself
NORM_LAYERS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm,
                                            nn.GroupNorm)

#: the child name an attached point gets inside its norm module
ATTACHED = "noise_injection"


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
        self._norm: nn.Module | None = None

    def scale_with(self, norm: nn.Module | None) -> None:
        """Scale every draw by ``norm``'s affine weight gamma (noise on the normalised
        pre-activation, before the affine scale: see the module doc); None: unscaled. The norm
        is held as a plain reference, not a child module, so neither ``state_dict`` nor
        ``parameters()`` changes."""
        object.__setattr__(self, "_norm", norm)

    def _gamma(self, x: torch.Tensor) -> torch.Tensor | None:
        """The norm's gamma shaped to broadcast over ``x``: LayerNorm's weight covers the
        trailing dimensions, a BatchNorm's or GroupNorm's the channel dimension (1)."""
        norm = self._norm
        weight = getattr(norm, "weight", None) if norm is not None else None
        if not isinstance(weight, torch.Tensor):  # no affine scale: nothing to come before
            return None
        if isinstance(norm, nn.LayerNorm):
            return weight
        return weight.reshape(-1, *([1] * (x.dim() - 2)))

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
        gamma = self._gamma(x)
        if gamma is not None:
            noise = noise * gamma.to(x.dtype)
        return x + sigma * noise

    def extra_repr(self) -> str:
        s = self.sigma
        if s is None or isinstance(s, float):
            return f"sigma={s}"
        return f"sigma={s.detach().cpu().tolist()}"


def noise_points(model: nn.Module) -> list[NoiseInjection]:
    """The model's noise points in module-registration order (forward order in the built-in
    models, and for attached points the order of their norm layers)."""
    return [m for m in model.modules() if isinstance(m, NoiseInjection)]


def norm_layers(model: nn.Module) -> list[nn.Module]:
    """The normalisation modules a point would be attached after, in registration order."""
    return [m for m in model.modules() if isinstance(m, NORM_LAYERS)]


def _noise_after(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook of a norm module: its output through its attached point (a module-level
    function, so a hooked model still pickles and deep-copies)."""
    return getattr(module, ATTACHED)(output)


def attach_noise_points(model: nn.Module) -> list[NoiseInjection]:
    """The model's noise points: its own `NoiseInjection` modules if it has any, otherwise a
    new one after every normalisation layer (see the module doc). Empty if it has neither."""
    points = noise_points(model)
    if points:
        return points
    for norm in norm_layers(model):
        norm.add_module(ATTACHED, NoiseInjection())
        norm.register_forward_hook(_noise_after)
    return noise_points(model)


def norms_before(model: nn.Module, points: list[NoiseInjection]) -> list[nn.Module | None]:
    """The normalisation layer right before each point: the norm an attached point is a child
    of, or the sibling registered just before it in its parent (``LayerNorm -> noise`` in the
    built-in MLPs, ``Sequential(bn, noise)`` from `wrap_batchnorms`, ``bn -> noise`` in the
    cnn); None after an ``nn.Identity`` (a model built with ``norm=False``: no affine scale).
    ValueError naming the point when anything else precedes it: "before the affine scale"
    means nothing there."""
    before: dict[int, nn.Module | None] = {}
    for parent in model.modules():
        previous: nn.Module | None = None
        for child in parent.children():
            if isinstance(child, NoiseInjection):
                if isinstance(parent, NORM_LAYERS):
                    before[id(child)] = parent
                elif isinstance(previous, NORM_LAYERS):
                    before[id(child)] = previous
                elif isinstance(previous, nn.Identity):
                    before[id(child)] = None
            previous = child
    out: list[nn.Module | None] = []
    for i, point in enumerate(points):
        if id(point) not in before:
            raise ValueError(f"noise point {i} does not follow a BatchNorm/LayerNorm/GroupNorm "
                             "layer, so it has no affine scale to come before")
        out.append(before[id(point)])
    return out


def wrap_batchnorms(module: nn.Module) -> None:
    """Replace every BatchNorm ``bn`` below ``module`` by ``Sequential(bn, NoiseInjection())``:
    how the torchvision-based built-in models place their points (their checkpoints' keys,
    e.g. ``bn1.0.weight``, depend on it). Children are visited in registration order, so the
    points come out in forward order."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Sequential(child, NoiseInjection()))
        else:
            wrap_batchnorms(child)


__all__ = ["NORM_LAYERS", "NoiseInjection", "attach_noise_points", "noise_points", "norm_layers",
           "norms_before", "wrap_batchnorms"]
