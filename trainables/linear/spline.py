"""`CrossRegSpline`: an additive penalised cubic spline with a cross-regularized roughness."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline
from sklearn.utils.validation import check_is_fitted, validate_data

from .estimators import CrossRegBase, check_number


@dataclass
class FeatureBasis:
    """One feature's transform: x -> t = (x - lo)/h in [0, 1] -> penalised columns + linear."""

    lo: float
    h: float
    knots: np.ndarray | None  # clamped cubic knot vector on [0, 1]; None = linear only
    T: np.ndarray | None  # B-spline coefficients of the penalised columns, (m, k)
    t_mean: float  # training mean of t (the linear column is centred)
    s: np.ndarray | None = None  # roughness eigenvalues of the penalised columns

    def bspline(self, t: np.ndarray) -> np.ndarray:
        """B-spline basis at t, extrapolated linearly outside [0, 1] (as a natural spline)."""
        assert self.knots is not None, "a linear-only feature has no B-spline basis"
        m = len(self.knots) - 4
        spl = BSpline(self.knots, np.eye(m), 3, extrapolate=False)
        tc = np.clip(t, 0.0, 1.0)
        B = spl(tc)
        lo_out, hi_out = t < 0, t > 1
        if lo_out.any() or hi_out.any():
            d1 = spl.derivative(1)
            B = B.copy()
            B[lo_out] += np.outer(t[lo_out], d1(np.array([0.0]))[0])
            B[hi_out] += np.outer(t[hi_out] - 1.0, d1(np.array([1.0]))[0])
        return B

    def penalised(self, x: np.ndarray) -> np.ndarray:
        if self.T is None:
            return np.zeros((len(x), 0))
        return self.bspline((x - self.lo) / self.h) @ self.T

    def linear(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.lo) / self.h - self.t_mean).reshape(-1, 1)


def roughness_matrix(knots: np.ndarray) -> np.ndarray:
    """Omega_ij = int_0^1 B_i''(t) B_j''(t) dt, exact: B'' is piecewise linear, so 3-point
    Gauss-Legendre on each knot interval integrates the products exactly."""
    m = len(knots) - 4
    d2 = BSpline(knots, np.eye(m), 3).derivative(2)
    nodes, weights = np.polynomial.legendre.leggauss(3)
    edges = np.unique(knots)
    omega = np.zeros((m, m))
    for a, b in itertools.pairwise(edges):
        tq = (a + b) / 2 + (b - a) / 2 * nodes
        D = d2(tq)
        omega += (D * ((b - a) / 2 * weights)[:, None]).T @ D
    return omega


class CrossRegSpline(CrossRegBase):
    """Penalised cubic spline (additive over features) with a cross-regularized roughness.

    Each feature x_j is mapped to t in [0, 1] and expanded in ``n_basis`` clamped cubic
    B-splines with interior knots at quantiles of the distinct training values. With
    ``G = B^T B / n`` and ``Omega = int B'' B''^T`` (exact), the Demmler-Reinsch basis
    ``Z = B G^-1/2 U`` (U: eigenvectors of ``G^-1/2 Omega G^-1/2``, eigenvalues s) has orthogonal
    columns on the training rows and makes the roughness diagonal, ``int f''^2 = sum_k s_k c_k^2``.
    The two zero-eigenvalue directions (constant and linear) are left unpenalised (the constant
    via centring y, the linear term as a free column); rho is the roughness norm of the others,
    ``rho = sqrt(sum_k s_k c_k^2)``, through `WeightedL2Family` (the level-set construction of
    `NormFamily` with a weighted L2 penalty). We do not rescale to ``b = sqrt(s) c`` and use
    `NormFamily("l2")` on b, though its level sets are the same: the rho direction then depends
    on the coordinates, and in b coordinates the fixed point is far from the hold-out optimum
    (see `WeightedL2Family`).
    For several features the penalised blocks are concatenated under one rho (an additive model
    with a shared smoothing parameter). A feature with fewer than 4 distinct training values
    gets only its linear term (a cubic spline is not identifiable there); a constant feature
    gets nothing.

    Fitted: ``coef_`` the B-spline coefficients per feature (concatenated; ``basis_sizes_``
    gives the split; a linear-only feature has one coefficient on t), ``intercept_``, ``rho_``,
    ``lam_`` the equivalent smoothing parameter in ``scipy.interpolate.make_smoothing_spline``'s
    convention ``sum (y - f)^2 + lam int f''(x)^2 dx`` (x in the original units), ``alpha_`` the
    same number (the sum-of-squares ridge alpha on b, converted to x units), plus the counters.
    """

    _penalty = "l2"
    # start heavily smoothed and let rho grow at most 2x per step: the partial-gradient
    # dynamics can have a second fixed point near lambda = 0 (no smoothing); approaching from
    # the smooth side finds the first one, and rho_lr = 0.5 damps the period-2 oscillation of
    # full Newton rho steps measured on some seeds.
    _init_scale = 1e-2
    _rho_max_factor = 2.0

    def __init__(self, *, n_basis: int = 40, val_fraction: float = 0.2, random_state=0,
                 max_iter: int = 1000, r: int = 1, tol: float = 1e-7, lr: float = 1.0,
                 rho_lr: float = 0.5, rho_optimizer: str = "newton",
                 theta_optimizer: str = "newton") -> None:
        self.n_basis = n_basis
        self.val_fraction = val_fraction
        self.random_state = random_state
        self.max_iter = max_iter
        self.r = r
        self.tol = tol
        self.lr = lr
        self.rho_lr = rho_lr
        self.rho_optimizer = rho_optimizer
        self.theta_optimizer = theta_optimizer

    def _check_params(self) -> None:
        super()._check_params()
        check_number("n_basis", self.n_basis, low=4, integer=True)

    def _build_design(self, X: np.ndarray) -> None:
        self._bases: list[FeatureBasis | None] = []
        n = len(X)
        for j in range(X.shape[1]):
            x = X[:, j]
            lo, hi = float(x.min()), float(x.max())
            uniq = np.unique(x)
            if hi - lo <= 1e-12 * max(1.0, abs(lo), abs(hi)) or len(uniq) < 2:
                self._bases.append(None)
                continue
            h = hi - lo
            t = (x - lo) / h
            t_mean = float(t.mean())
            if len(uniq) < 4:
                self._bases.append(FeatureBasis(lo, h, None, None, t_mean))
                continue
            # at most n_basis functions, no more than distinct values, and (additive models
            # on few rows) about a third of the training rows per feature
            m = int(min(self.n_basis, len(uniq), max(4, n // (3 * X.shape[1]))))
            interior = np.quantile((uniq - lo) / h, np.linspace(0, 1, m - 2)[1:-1])
            knots = np.concatenate([[0.0] * 4, interior, [1.0] * 4])
            base = FeatureBasis(lo, h, knots, None, t_mean)
            B = base.bspline(t)
            G = B.T @ B / n
            g, V = np.linalg.eigh(G)
            keep = g > 1e-10 * g[-1]
            M = V[:, keep] / np.sqrt(g[keep])  # B @ M has orthonormal columns (times sqrt n)
            omega = roughness_matrix(knots)
            s, U = np.linalg.eigh(M.T @ omega @ M)
            # eigh sorts ascending: the first two are the null space, {1, t} (exactly zero in
            # theory; a relative threshold would misclassify smooth modes when s spans >1e8)
            pen = np.arange(len(s)) >= 2
            base.T = M @ U[:, pen]  # B-spline coefficients of the penalised DR columns
            base.s = s[pen]
            self._bases.append(base)
        n_cols = sum(0 if b is None else 1 + (0 if b.T is None else b.T.shape[1]) for b in self._bases)
        if n_cols > n // 2:
            # too few rows for an additive spline (the penalised part would be unidentifiable
            # and rho would run off): fall back to the linear terms, an ordinary least squares
            for b in self._bases:
                if b is not None:
                    b.T, b.knots, b.s = None, None, None
        weights = [b.s for b in self._bases if b is not None and b.s is not None]
        self._pen_weights = np.concatenate(weights) if weights else np.zeros(0)

    def _design(self, X: np.ndarray) -> tuple[np.ndarray, int]:
        pen, lin = [], []
        for j, base in enumerate(self._bases):
            if base is None:
                continue
            pen.append(base.penalised(X[:, j]))
            lin.append(base.linear(X[:, j]))
        pen_block = np.hstack(pen) if pen else np.zeros((len(X), 0))
        lin_block = np.hstack(lin) if lin else np.zeros((len(X), 0))
        return np.hstack([pen_block, lin_block]), pen_block.shape[1]

    def _finish(self, w, y_mean, n_train, alpha_sum):
        self._w = w
        self._y_mean = float(y_mean)
        self._p_pen = sum(0 if b is None or b.T is None else b.T.shape[1] for b in self._bases)
        self.intercept_ = float(y_mean)
        coefs, sizes = [], []
        pen_off, lin_off = 0, self._p_pen
        h_ref = None
        for base in self._bases:
            if base is None:
                sizes.append(0)
                continue
            a = float(w[lin_off])
            lin_off += 1
            self.intercept_ -= a * base.t_mean
            if base.T is None:
                coefs.append(np.array([a]))
                sizes.append(1)
                continue
            k = base.T.shape[1]
            b = w[pen_off:pen_off + k]
            pen_off += k
            assert base.knots is not None and base.h is not None  # a penalised basis has both
            greville = (base.knots[1:-3] + base.knots[2:-2] + base.knots[3:-1]) / 3
            coefs.append(base.T @ b + a * greville)  # t = sum_i greville_i B_i(t)
            sizes.append(len(base.knots) - 4)
            h_ref = base.h if h_ref is None else h_ref
        self.coef_ = np.concatenate(coefs) if coefs else np.zeros(0)
        self.basis_sizes_ = np.array(sizes)
        # alpha_sum is the ridge alpha on b in t units; int f''(x)^2 dx = int g''(t)^2 dt / h^3
        if self._p_pen and len([b for b in self._bases if b is not None and b.T is not None]) == 1:
            assert h_ref is not None
            self.lam_ = float(alpha_sum * h_ref ** 3)
        else:  # several features: the shared alpha is per unit-interval roughness (t units)
            self.lam_ = float(alpha_sum)
        self.alpha_ = self.lam_

    def predict(self, X) -> np.ndarray:
        """The fitted additive spline at X (linear extrapolation outside the training range)."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        Z, _ = self._design(X)
        return Z @ self._w + self._y_mean

