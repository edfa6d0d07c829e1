"""Regularizer families: what rho is and how it enters the forward pass.

Cross-regularization splits the parameters in two groups: theta (everything in the model)
is stepped on the training split, rho (the parameters of a `Regularizer`) on the
regularization split. rho always enters the forward pass directly, so the rho step is the
plain partial gradient dL_val/drho with theta held fixed: no unrolling, no Hessian.

Families (DESIGN.md's method table):

* `NormFamily`: the amount of a penalty R(w) is rho. A weight is parametrised as
  ``w = v + (rho - R(v)) * u``, ``u = grad R(v) / |grad R(v)|^2`` (u held constant), so
  at ``R(v) = rho`` the forward value is ``w = v``, dw/drho = u and dL/dv is the gradient
  minus its projection on grad R. For R = L2 norm this is exactly ``w = rho * v/|v|`` (the
  norm/direction split); for R = L1 norm it is the sign projection. After every step v is
  retracted onto the level set ``R(v) = rho`` (see `_retract_l1` for zeros and sign changes).
* `NoiseFamily`: per-layer log sigma of additive Gaussian noise on normalised
  pre-activations; one sample for a theta step, K samples for a rho step.
* `AugmentFamily`: magnitudes of a random affine warp (translate px, rotate deg, shear);
  one warp for a theta step, K warps for a rho step.

Each family runs learned (cross_reg: rho gets its own optimiser) or fixed (rho frozen at the
configured values: the fixed-lambda trainable the searches tune).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize


class Regularizer(nn.Module):
    """Base class: holds rho; the identity regularizer (family ``none``)."""

    #: a stochastic family needs K samples for a rho step and for evaluation
    stochastic: bool = False

    def __init__(self, learned: bool = False) -> None:
        super().__init__()
        self.learned = learned

    def rho_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters()) if self.learned else []

    def rho_values(self) -> dict[str, float]:
        return {}

    def eval_samples(self, K: int) -> int:
        """How many samples an evaluation averages (1 for a deterministic model)."""
        return 1

    def refresh(self) -> None:
        """Push the current rho into the model before a forward pass."""

    def transform_inputs(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        """The inputs of ``n_samples`` stacked draws, shape (n_samples * B, ...)."""
        return x if n_samples == 1 else x.repeat(n_samples, *([1] * (x.dim() - 1)))

    @torch.no_grad()
    def after_theta_step(self) -> None:
        """Retraction after theta moved (norm families keep R(v) = rho)."""

    @torch.no_grad()
    def after_rho_step(self) -> None:
        """Keep rho in its domain and theta consistent with it after a rho step."""


# ---------------------------------------------------------------------------------------
# norm families: L2 (ridge, weight norm), L1 (lasso), any penalty with a gradient


def l2_norm(v: torch.Tensor) -> torch.Tensor:
    # vector_norm's gradient at v = 0 is 0 (a subgradient), where sqrt(sum v^2) gives NaN
    return torch.linalg.vector_norm(v)


def l1_norm(v: torch.Tensor) -> torch.Tensor:
    return v.abs().sum()


PENALTIES = {"l2": l2_norm, "l1": l1_norm}


class _LevelSet(nn.Module):
    """Parametrisation ``w = v + (rho - R(v)) * u`` of one weight tensor (see module doc)."""

    def __init__(self, penalty: str, family: NormFamily, index: int) -> None:
        super().__init__()
        self.penalty = penalty
        # a plain attribute, not a submodule: rho belongs to the regularizer, not the model
        object.__setattr__(self, "_family", family)
        self.index = index

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        amount = PENALTIES[self.penalty](v)
        direction = _penalty_direction(self.penalty, v.detach())
        return v + (self._family.rho[self.index] - amount) * direction


def _penalty_direction(penalty: str, v: torch.Tensor) -> torch.Tensor:
    """u = grad R / |grad R|^2: moving w by t*u changes R(w) by t (to first order)."""
    if penalty == "l2":
        grad = v / l2_norm(v).clamp_min(1e-12)
    else:
        grad = torch.sign(v)
    return grad / grad.pow(2).sum().clamp_min(1e-12)


def project_l1_sphere(v: torch.Tensor, radius: float) -> torch.Tensor:
    """Euclidean projection of v onto {w : |w|_1 = radius}, moving only along sign(v).

    Shrinking is soft-thresholding (Duchi et al. 2008): every active coordinate moves
    towards zero by the same tau, and a coordinate that would cross zero stops AT zero
    (a sign change becomes an exact zero instead of flipping). Growing adds the same amount
    to every active coordinate away from zero; zeros stay zero. A zero coordinate leaves
    zero only through a theta step that moves it further than the threshold tau the next
    projection subtracts. With the plain tangent step (gradient minus its projection on
    sign(w)) a zero coordinate receives its full gradient, so any non-zero gradient lets it
    in partly; the lasso estimator's optimiser adds the sign component back so that entry
    follows the lasso's condition |grad_j| > lambda (trainables/linear.py).
    """
    flat = v.reshape(-1)
    total = flat.abs().sum()
    if radius <= 0:
        return torch.zeros_like(v)
    if total > radius:
        mags = flat.abs()
        sorted_mags, _ = torch.sort(mags, descending=True)
        cumsum = torch.cumsum(sorted_mags, 0)
        ks = torch.arange(1, len(flat) + 1, device=v.device, dtype=v.dtype)
        cond = sorted_mags - (cumsum - radius) / ks > 0
        # k >= 1 always holds in exact arithmetic; a radius tiny next to |v| can round it away
        k = int(torch.nonzero(cond).max()) + 1 if bool(cond.any()) else 1
        tau = (cumsum[k - 1] - radius) / k
        out = torch.sign(flat) * (mags - tau).clamp_min(0)
    else:
        active = flat != 0
        n_active = int(active.sum())
        if n_active == 0:
            return v.clone()  # nothing to grow; rho is re-read from v by the caller
        out = flat + torch.sign(flat) * (radius - total) / n_active
    return out.reshape(v.shape)


class NormFamily(Regularizer):
    """rho_i = R(w_i) for each weight tensor w_i (one scalar per tensor)."""

    def __init__(self, modules: Sequence[nn.Module], penalty: str, rho: Sequence[float] | None,
                 learned: bool, names: Sequence[str] | None = None, param: str = "weight",
                 relative: Sequence[float] | None = None) -> None:
        """``rho`` gives absolute amounts; ``relative`` gives them as multiples of each
        weight's amount at initialisation (the weight-norm family's g, since a useful absolute
        norm depends on the layer's size); neither keeps the initial amounts."""
        super().__init__(learned)
        if penalty not in PENALTIES:
            raise ValueError(f"unknown penalty {penalty!r}; choose one of {sorted(PENALTIES)}")
        self.penalty = penalty
        self.param = param
        self.modules_ = list(modules)
        self.names = list(names) if names is not None else [f"{penalty}_{i}" for i in range(len(modules))]
        initial = [float(PENALTIES[penalty](getattr(m, param).detach())) for m in self.modules_]
        if relative is not None:
            values = [float(x) * ref for x, ref in zip(relative, initial)]
            reference = initial
        else:
            values = initial if rho is None else [float(x) for x in rho]
            reference = [1.0] * len(values)
        if len(values) != len(self.modules_) or len(reference) != len(values):
            raise ValueError(f"{penalty}: {len(values)} rho values for {len(self.modules_)} weights")
        self.register_buffer("reference", torch.tensor(reference, dtype=torch.float32))
        self.rho = nn.Parameter(torch.tensor(values, dtype=torch.float32), requires_grad=learned)
        for i, m in enumerate(self.modules_):
            parametrize.register_parametrization(m, param, _LevelSet(penalty, self, i))
        self.after_rho_step()

    def originals(self) -> list[nn.Parameter]:
        return [getattr(m.parametrizations, self.param).original for m in self.modules_]

    def rho_values(self) -> dict[str, float]:
        amounts = (self.rho.detach() / self.reference).cpu()
        return {n: float(x) for n, x in zip(self.names, amounts)}

    @torch.no_grad()
    def after_theta_step(self) -> None:
        for i, v in enumerate(self.originals()):
            v.copy_(self._retract(v, float(self.rho[i])))

    @torch.no_grad()
    def after_rho_step(self) -> None:
        self.rho.clamp_(min=0.0)
        for i, v in enumerate(self.originals()):
            v.copy_(self._retract(v, float(self.rho[i])))
            if self.penalty == "l1":  # an all-zero weight cannot grow: keep rho honest
                self.rho[i] = l1_norm(v)

    def _retract(self, v: torch.Tensor, radius: float) -> torch.Tensor:
        if self.penalty == "l2":
            return v * (radius / float(l2_norm(v).clamp_min(1e-12)))
        return project_l1_sphere(v, radius)


# ---------------------------------------------------------------------------------------
# noise injection


class NoiseFamily(Regularizer):
    """Per-layer sigma of additive Gaussian noise at the model's `NoiseInjection` points.

    Learned sigma is stored as log sigma (positive, and multiplicative steps suit a scale);
    a fixed sigma of exactly 0 switches its point off, so a fixed run with every sigma at 0
    is bit-for-bit plain training.
    """

    stochastic = True

    def __init__(self, points: Sequence[nn.Module], sigma: Sequence[float], learned: bool,
                 generator: torch.Generator | None) -> None:
        super().__init__(learned)
        self.points = list(points)
        if len(sigma) != len(self.points):
            raise ValueError(f"noise: {len(sigma)} sigma values for {len(self.points)} noise points")
        values = torch.tensor([float(s) for s in sigma], dtype=torch.float32)
        if learned:
            self.log_sigma = nn.Parameter(values.log())
        else:
            self.register_buffer("fixed_sigma", values)
        for p in self.points:
            p.generator = generator
        if not learned:  # frozen values: set once, as floats (no device sync per step)
            for p, s in zip(self.points, values.tolist()):
                p.sigma = None if s == 0.0 else float(s)
        self.refresh()

    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp() if self.learned else self.fixed_sigma

    def rho_values(self) -> dict[str, float]:
        return {f"sigma_{i}": float(s) for i, s in enumerate(self.sigma().detach().cpu())}

    def eval_samples(self, K: int) -> int:
        return K if bool((self.sigma() > 0).any()) else 1

    def refresh(self) -> None:
        if self.learned:  # a fresh graph from log sigma for every forward pass
            sigma = self.log_sigma.exp()
            for i, p in enumerate(self.points):
                p.sigma = sigma[i]


# ---------------------------------------------------------------------------------------
# augmentation


AUGMENT_NAMES = ("translate", "rotate", "shear")


class AugmentFamily(Regularizer):
    """Magnitudes of a random affine warp: translate (pixels), rotate (degrees), shear.

    Each sample draws u ~ U(-1, 1)^4 and is warped by rotation rotate*u0 degrees, shear
    shear*u1 and translation translate*(u2, u3) pixels, through `affine_grid` and bilinear
    `grid_sample`, which are differentiable in the magnitudes (reparameterisation). Inputs
    must be images (N, C, H, W). Evaluation does not warp.
    """

    stochastic = True

    def __init__(self, magnitudes: Sequence[float], learned: bool, generator: torch.Generator | None,
                 image_size: tuple[int, int]) -> None:
        super().__init__(learned)
        values = torch.tensor([float(m) for m in magnitudes], dtype=torch.float32)
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


def expand_rho(rho: float | Mapping[str, float], names: Sequence[str], family: str) -> list[float]:
    """Per-parameter rho values from a scalar (broadcast) or a dict keyed by rho name."""
    if isinstance(rho, Mapping):
        unknown = sorted(set(rho) - set(names))
        missing = [n for n in names if n not in rho]
        if unknown or missing:
            raise ValueError(
                f"rho for family {family!r} must name exactly {list(names)}; "
                f"unknown {unknown}, missing {missing}")
        return [float(rho[n]) for n in names]
    return [float(rho)] * len(names)
