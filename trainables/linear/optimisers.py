"""The estimators' two optimisers (theta: gradient descent, Newton or L1-projected gradient;
rho: a safeguarded Newton step) and the single-thread guard of a fit; why each is as it is
stands in the package doc (`trainables.linear`)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from .families import LinearFamily, WeightedL2Family, penalty_gradient, rho_direction
from .model import DTYPE, LinearModel, Quadratic, pen_param


class ThetaStep(torch.optim.Optimizer):
    """Full-batch theta step on the gradients the engine left in ``.grad``.

    mode ``"gd"``: ``v -= lr/L * grad`` (the engine's tangent gradient for the penalised block).
    mode ``"newton"``: the tangent gradient preconditioned by the Lagrangian Hessian (module doc).
    mode ``"l1"``: projected gradient onto the L1 sphere. The level-set parametrisation hands
      the optimiser the tangent gradient ``g - s (s.g)/nnz`` (s = sign(v)): moving along it keeps
      |w|_1 while the signs hold. Used alone it lets every zero coordinate with any non-zero
      gradient enter the support (the retraction then subtracts only tau ~ lr|g_j|/(nnz+1)),
      so would-be zeros hover around 0 with flipping signs instead of being exactly zero. We
      therefore add back the normal component ``s * (s.g)/nnz`` (the scalar s.g from the
      training Gram statistics, no extra forward pass), so that this step followed by the
      engine's retraction `project_l1_sphere` is the Euclidean projected-gradient step onto
      {|w|_1 = rho}: every coordinate moves by -lr*g, then all are soft-thresholded by the same
      tau = lr*lambda. A zero therefore enters the support only if |g_j| > lambda (the lasso's
      KKT condition), and a coordinate whose step crosses zero is thresholded from the crossed
      side (it may land at exactly 0, or change sign when the step is larger than tau, as in ISTA).
    """

    def __init__(self, model: LinearModel, mode: str, lr: float, train: Quadratic,
                 family: LinearFamily) -> None:
        params = [pen_param(model)] + ([model.free.weight] if model.free is not None else [])
        super().__init__(params, {"lr": lr})
        self.model, self.mode, self.lr, self.train = model, mode, lr, train
        self.p_pen = model.p_pen
        self.family = family

    def _w(self) -> torch.Tensor:
        parts = [pen_param(self.model).reshape(-1)]
        if self.model.free is not None:
            parts.append(self.model.free.weight.reshape(-1))
        return torch.cat(parts)

    def _weights(self) -> torch.Tensor:
        if isinstance(self.family, WeightedL2Family):
            return self.family.weights.reshape(-1)
        return torch.ones(self.p_pen, dtype=DTYPE)

    @torch.no_grad()
    def step(self, closure=None):
        params = self.param_groups[0]["params"]
        grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=DTYPE)
                 for p in params]
        g = torch.cat(grads)
        v = params[0].reshape(-1)
        if self.mode == "newton":
            w = self._w()
            full = 2 * (self.train.C @ w - self.train.q)
            # Lagrange multiplier of min L s.t. R(v) = rho, in the form grad L = -2 mu P v
            # (P the penalty's weights: 1 for ridge, s for the spline), by least squares
            pv = penalty_gradient(self.family, v)
            mu = max(0.0, float(-(full[:self.p_pen] @ pv) / (2 * (pv @ pv).clamp_min(1e-300))))
            H = 2 * self.train.C.clone()
            idx = torch.arange(self.p_pen)
            H[idx, idx] += 2 * mu * self._weights()
            jitter = 1e-8 * float(torch.diagonal(H).abs().max().clamp_min(1e-300))
            H += jitter * torch.eye(H.shape[0], dtype=DTYPE)
            # Riemannian Newton: minimise the quadratic model over the tangent space
            # {d : (P v).d = 0} (a KKT system), not H^-1 g followed by the retraction, whose
            # normal part the retraction discards and whose tangent part then overshoots on
            # anisotropic designs (measured: a 2-cycle that never converged)
            # The spline's weighted family keeps the plain preconditioned step H^-1 g: it
            # converged on every measured seed, while this KKT step did not there (2.8x test
            # MSE, no convergence in 1000 steps; not yet understood - open issue).
            if isinstance(self.family, WeightedL2Family):
                d = torch.linalg.solve(H, g) * self.lr
                offset = 0
                for p in params:
                    p.sub_(d[offset:offset + p.numel()].reshape(p.shape))
                    offset += p.numel()
                return
            m = H.shape[0]
            a = torch.zeros(m, dtype=DTYPE)
            a[:self.p_pen] = pv / pv.norm().clamp_min(1e-300)
            K = torch.zeros((m + 1, m + 1), dtype=DTYPE)
            K[:m, :m] = H
            K[:m, m] = a
            K[m, :m] = a
            rhs = torch.cat([g, torch.zeros(1, dtype=DTYPE)])
            d = torch.linalg.solve(K, rhs)[:m] * self.lr
        elif self.mode == "l1":
            s = torch.sign(v)
            nnz = float(s.abs().sum())
            if nnz > 0:
                w = self._w()
                full = 2 * (self.train.C @ w - self.train.q)
                g = g.clone()
                g[:self.p_pen] += s * float(s @ full[:self.p_pen]) / nnz
            d = g * self.lr
        else:
            d = g * self.lr
        offset = 0
        for p in params:
            p.sub_(d[offset:offset + p.numel()].reshape(p.shape))
            offset += p.numel()


class RhoNewton(torch.optim.Optimizer):
    """``rho -= lr * g / c``, c the validation MSE's curvature along ``u = dw/drho`` (module doc)."""

    def __init__(self, family: LinearFamily, model: LinearModel, lr: float, val: Quadratic,
                 max_factor: float, rho_max: float) -> None:
        super().__init__([family.rho], {"lr": lr})
        self.family, self.model, self.lr, self.val = family, model, lr, val
        self.max_factor = max_factor
        self.rho_max = rho_max
        self.zero_below = 1e-6 * float(family.rho.detach()[0])
        self.collapsed = False
        self.damping = 1.0
        self.last_delta = 0.0

    @torch.no_grad()
    def step(self, closure=None):
        rho = self.family.rho
        if rho.grad is None:
            return
        v = pen_param(self.model).reshape(-1)
        u = rho_direction(self.family, v)
        p = self.model.p_pen
        curvature = float(2 * u @ self.val.C[:p, :p] @ u)
        g = float(rho.grad[0])
        old = float(rho[0])
        if curvature <= 1e-300 or not math.isfinite(curvature):
            return  # the validation loss does not see this direction: nothing to learn
        delta = -self.lr * self.damping * g / curvature
        if delta * self.last_delta < 0:
            # the step reversed: the alternation is cycling around its fixed point (a support
            # change of the lasso moves u = sign(w)/nnz discontinuously; a full Newton step can
            # overshoot on a curved path). Halve the step from now on, so rho converges.
            self.damping *= 0.5
            delta *= 0.5
        self.last_delta = delta
        new = min(max(old + delta, old / self.max_factor), old * self.max_factor, self.rho_max)
        if new < self.zero_below:
            # the validation split keeps asking for less (e.g. y unrelated to X): the answer is
            # w_pen = 0. Stop there (the fit reports rho_ = 0) instead of shrinking
            # geometrically forever; rho itself stays positive, since R(v) = |v| has no
            # gradient at v = 0 and the level-set parametrisation would produce NaN there.
            new = self.zero_below
            self.collapsed = True
        rho[0] = new


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch single-threaded: on these tiny full-batch problems intra-op threads only add
    synchronisation (measured 25x slower with 2 threads on a loaded 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)

