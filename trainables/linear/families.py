"""The spline's weighted-L2 level-set family, and the two directions the optimisers need from
any of the estimators' families (`NormFamily` l2 / l1, or the weighted one)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..regularizers import NormFamily, Regularizer
from .model import DTYPE, original


class WeightedLevelSet(nn.Module):
    """``w = v + (rho - R(v)) * u``, ``R(v) = sqrt(sum_k s_k v_k^2)``, u = grad R/|grad R|^2."""

    _family: WeightedL2Family

    def __init__(self, family: WeightedL2Family) -> None:
        super().__init__()
        object.__setattr__(self, "_family", family)  # rho belongs to the regularizer

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        fam = self._family
        return v + (fam.rho[0] - fam.amount(v)) * fam.direction(v.detach())


class WeightedL2Family(Regularizer):
    """rho = sqrt(sum_k s_k c_k^2) on one weight: `NormFamily`'s level-set construction with a
    weighted L2 penalty (the spline's roughness ``sqrt(int f''^2)`` in Demmler-Reinsch
    coordinates, where the training design is orthonormal).

    Why not `NormFamily("l2")` on the rescaled coefficients ``b = sqrt(s) c``: the level set is
    the same, but the direction rho moves along, grad R, depends on the coordinates' metric.
    In b coordinates a rho step scales the whole penalised function (direction c in function
    space), so its fixed point balances the validation loss of the low frequencies, which barely
    depend on the smoothing: measured on a noisy sine it chose lambda 1000x too large (test
    error 70x the GCV spline's). In c coordinates the metric is the function-space metric on the
    training points, the rho direction is ``S c`` and the fixed point differs from the hold-out
    optimum's ``S (I + mu S)^-1 c`` only through the heavily smoothed high frequencies.
    The retraction rescales v radially onto R(v) = rho.
    """

    weights: torch.Tensor

    def __init__(self, module: nn.Linear, weights: torch.Tensor) -> None:
        super().__init__(learned=True)
        self.modules_ = [module]  # a list, not a submodule: theta stays out of rho_parameters
        self.register_buffer("weights", weights.reshape(1, -1).to(DTYPE))
        v = module.weight.detach()
        self.rho = nn.Parameter(torch.tensor([float(self.amount(v))], dtype=DTYPE))
        parametrize.register_parametrization(module, "weight", WeightedLevelSet(self))
        self.after_rho_step()

    def amount(self, v: torch.Tensor) -> torch.Tensor:
        return (self.weights * v * v).sum().clamp_min(0).sqrt()

    def direction(self, v: torch.Tensor) -> torch.Tensor:
        grad = self.weights * v / self.amount(v).clamp_min(1e-300)
        return grad / grad.pow(2).sum().clamp_min(1e-300)

    def rho_values(self) -> dict[str, float]:
        return {"roughness": float(self.rho.detach()[0])}

    def _original(self) -> torch.Tensor:
        return original(self.modules_[0])

    @torch.no_grad()
    def after_theta_step(self) -> None:
        v = self._original()
        v.mul_(float(self.rho[0]) / float(self.amount(v).clamp_min(1e-300)))

    @torch.no_grad()
    def after_rho_step(self) -> None:
        self.rho.clamp_(min=0.0)
        self.after_theta_step()


#: the families the estimators use: plain L2 / L1 (`NormFamily`) or the spline's weighted L2
LinearFamily = NormFamily | WeightedL2Family


def penalty_gradient(family: LinearFamily, v: torch.Tensor) -> torch.Tensor:
    """A vector along grad R(v) (L2: v, weighted L2: s*v, L1: sign(v))."""
    if isinstance(family, WeightedL2Family):
        return family.weights.reshape(-1) * v
    return v if family.penalty == "l2" else torch.sign(v)


def rho_direction(family: LinearFamily, v: torch.Tensor) -> torch.Tensor:
    """u = dw/drho = grad R / |grad R|^2 (what the level-set parametrisation moves along)."""
    if isinstance(family, WeightedL2Family):
        return family.direction(v).reshape(-1)
    if family.penalty == "l2":
        return v / v.norm().clamp_min(1e-300)
    s = torch.sign(v)
    return s / s.abs().sum().clamp_min(1.0)

