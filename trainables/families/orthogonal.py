"""``orthogonal``: how far each weight is from orthogonal, held at (or learned as) rho.

The soft orthogonality penalty ``|W^T W - I|_F`` (Brock et al. 2017; Bansal, Chen & Wang
2018) keeps a layer close to an isometry: decorrelated filters, and signals and gradients
that neither explode nor vanish through depth (Saxe et al. 2014). Here its *amount* is rho,
in the level-set form of the ``l1`` / ``l2`` families (`trainables.regularizers`): the
weight is parametrised as ``w = v + (rho - R(v)) * u`` with ``u = grad R(v) / |grad R(v)|^2``
held constant, so theta steps move along the level set ``R(w) = rho`` (the gradient minus
its projection on grad R) and dw/drho = u lets cross_reg learn rho; after every step v is
retracted onto the level set (`retract`: an exact rescaling where v's ray meets it, then Newton
steps along grad R, whose closed form is in `deviation_gradient`).

Cost: every forward pass forms each weight's Gram matrix (n^3 for an n-wide layer) and its
gradient; on a 2 x 512 MLP at batch 100 a training step counts about 9 times the plain
network's FLOPs, plus the retraction, which runs outside the step.

Choices made here: a Conv weight is read as a matrix (out, in * kernel); the Gram matrix is
the smaller of ``W W^T`` and ``W^T W`` (a wide layer cannot have orthonormal columns, a tall
one cannot have orthonormal rows); and the amount is normalised by ``|I|_F = sqrt(n)``:
``rho_i = |G - I|_F / sqrt(n)``, a scale-free number per layer (0 = orthonormal rows or
columns, 1 = as far as the zero matrix), so one value can be shared by every layer. rho
must be > 0: at exactly 0 the penalty has no gradient direction to parametrise with.

There is no value at which this is plain training: every rho constrains the weights. The
fixed twin holds the amount (a constraint, the dual of a penalty weight on R); less rho is
more regularization.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..regularizers import Family, Regularizer, expand_rho
from .dropconnect import original_weight, weight_layers

if TYPE_CHECKING:
    from ..config import TrialConfig

#: the smallest rho a step may leave (the penalty's gradient vanishes at 0)
MIN_RHO = 1e-3


def _gram_parts(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(the weight as a matrix, G - I for the smaller Gram matrix G, whether G = W W^T)."""
    m = w.float().reshape(w.shape[0], -1)
    wide = m.shape[0] <= m.shape[1]
    gram = m @ m.T if wide else m.T @ m
    return m, gram - torch.eye(gram.shape[0], device=w.device, dtype=gram.dtype), wide


def deviation(w: torch.Tensor) -> torch.Tensor:
    """R(w) = |G - I|_F / sqrt(n), in float32 whatever autocast says."""
    with torch.autocast(w.device.type, enabled=False):
        _, a, _ = _gram_parts(w)
        return torch.linalg.matrix_norm(a) / math.sqrt(a.shape[0])


@torch.no_grad()
def deviation_gradient(w: torch.Tensor) -> torch.Tensor:
    """grad R(w) = 2 A W / (|A| sqrt n) for G = W W^T (2 W A / (...) for G = W^T W)."""
    with torch.autocast(w.device.type, enabled=False):
        m, a, wide = _gram_parts(w)
        scale = 2.0 / (float(torch.linalg.matrix_norm(a)) * math.sqrt(a.shape[0]) + 1e-30)
        return ((a @ m) if wide else (m @ a)).mul_(scale).reshape(w.shape).to(w.dtype)


def _direction(v: torch.Tensor) -> torch.Tensor:
    """u = grad R / |grad R|^2: moving w by t*u changes R(w) by t (to first order)."""
    grad = deviation_gradient(v)
    return grad / grad.pow(2).sum().clamp_min(1e-30)


@torch.no_grad()
def _rescale(v: torch.Tensor, rho: float) -> torch.Tensor:
    """v scaled onto {R = rho} if its ray reaches it (the root nearest v), else to the point of
    its ray closest to it. Along the ray, |c^2 G - I|_F^2 is a quadratic in s = c^2."""
    with torch.autocast(v.device.type, enabled=False):
        _, a, _ = _gram_parts(v)
        n = a.shape[0]
        gram = a + torch.eye(n, device=a.device, dtype=a.dtype)
        trace, square = float(torch.trace(gram)), float(gram.pow(2).sum())
    if square == 0.0:
        return v  # an all-zero weight has no ray to move along
    disc = trace * trace - square * n * (1.0 - rho * rho)
    if disc < 0:
        s = trace / square  # rho is below the ray's minimum: go to the minimum
    else:
        roots = [r for r in ((trace + math.sqrt(disc)) / square, (trace - math.sqrt(disc)) / square)
                 if r > 0]
        s = min(roots, key=lambda r: abs(math.log(r))) if roots else trace / square
    return v * math.sqrt(s)


@torch.no_grad()
def retract(v: torch.Tensor, rho: float, tol: float = 1e-6, max_steps: int = 50) -> torch.Tensor:
    """v moved onto {R = rho}: rescaled (exact where the ray reaches the level set), then Newton
    steps along grad R, each at most half of |v| and halved until |R - rho| falls."""
    if abs(float(deviation(v)) - rho) > tol * max(rho, 1.0):
        v = _rescale(v, rho)
    error = float(deviation(v)) - rho
    for _ in range(max_steps):
        if abs(error) <= tol * max(rho, 1.0):
            break
        step = -error * _direction(v)
        t = min(1.0, 0.5 * float(v.norm()) / max(float(step.norm()), 1e-30))
        while t > 1e-4:
            candidate = v + t * step
            new_error = float(deviation(candidate)) - rho
            if abs(new_error) < abs(error):
                v, error = candidate, new_error
                break
            t /= 2
        else:
            break  # no step reduces the error (a flat point, e.g. an all-zero weight)
    return v


class _OrthLevelSet(nn.Module):
    """``w = v + (rho - R(v)) * u`` for one weight tensor (see the module doc)."""

    _family: OrthogonalFamily

    def __init__(self, family: OrthogonalFamily, index: int) -> None:
        super().__init__()
        object.__setattr__(self, "_family", family)  # rho belongs to the regularizer
        self.index = index

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        amount = deviation(v).to(v.dtype)
        return v + (self._family.rho[self.index] - amount) * _direction(v.detach())


class OrthogonalFamily(Regularizer):
    """rho_i = |G_i - I|_F / sqrt(n_i) for each weight (see the module doc)."""

    def __init__(self, layers: Sequence[nn.Module], rho: Sequence[float], names: Sequence[str],
                 learned: bool) -> None:
        super().__init__(learned)
        self.layers = list(layers)  # a plain list: the layers belong to the model
        self.names = list(names)
        if not len(rho) == len(self.names) == len(self.layers):
            raise ValueError(f"orthogonal: {len(rho)} rho values and {len(self.names)} names "
                             f"for {len(self.layers)} weights")
        self.rho = nn.Parameter(torch.tensor([float(x) for x in rho], dtype=torch.float32),
                                requires_grad=learned)
        for i, layer in enumerate(self.layers):
            parametrize.register_parametrization(layer, "weight", _OrthLevelSet(self, i))
        self.after_rho_step()

    def originals(self) -> list[torch.Tensor]:
        return [original_weight(layer) for layer in self.layers]

    def rho_values(self) -> dict[str, float]:
        return {n: float(x) for n, x in zip(self.names, self.rho.detach().cpu())}

    @torch.no_grad()
    def after_theta_step(self) -> None:
        for v, rho in zip(self.originals(), self.rho.tolist()):
            v.copy_(retract(v, rho))

    @torch.no_grad()
    def after_rho_step(self) -> None:
        if self.learned:  # a step may not cross 0; a fixed rho keeps its configured value
            self.rho.clamp_(min=MIN_RHO)
        self.after_theta_step()


def positive(value: float, learned: bool) -> str | None:
    return None if value > 0 else "must be > 0 (at 0 the penalty has no gradient to follow)"


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"orth_{i}" for i in range(len(weight_layers(model, "orthogonal"))))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> OrthogonalFamily:
    names = rho_names(model, input_shape)
    return OrthogonalFamily(weight_layers(model, "orthogonal"),
                            expand_rho(config.rho, names, "orthogonal"), names, config.learned)


FAMILY = Family(
    name="orthogonal",
    description="per-layer distance from orthogonality |W^T W - I|_F / sqrt(n) of every Linear/"
                "Conv weight, held at rho (level-set form)",
    learnable=True,
    stochastic=False,
    # 0.7 is about a default-initialised square layer; 0.05 is nearly orthonormal
    search_range=(0.05, 2.0),
    rho_names=rho_names,
    build=build,
    domain=positive,
)
