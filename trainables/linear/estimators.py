"""The shared fitting path of the estimators (`CrossRegBase.fit`), `CrossRegRidge` and
`CrossRegLasso`."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..engine import Engine
from ..regularizers import NormFamily
from .families import LinearFamily, WeightedL2Family
from .model import DTYPE, LinearModel, Quadratic
from .optimisers import RhoNewton, ThetaStep, one_thread


def check_number(name: str, value, *, low: float | None = None, high: float | None = None,
                  low_open: bool = False, high_open: bool = False, integer: bool = False) -> None:
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an integer' if integer else 'a real number'}, "
                        f"got {value!r} of type {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")


def check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


# ---------------------------------------------------------------------------------------
# the shared estimator


class CrossRegBase(RegressorMixin, BaseEstimator):
    """Fitting path shared by the three estimators (see the module doc)."""

    _penalty = "l2"
    _theta_modes: tuple[str, ...] = ("gd", "newton")
    _pen_weights: np.ndarray | None = None  # weighted L2 penalty (spline); None = NormFamily
    #: the start's penalised block is this fraction of one line-search step from 0 (see
    #: `_initial_point`); the spline starts heavily smoothed (see CrossRegSpline)
    _init_scale: float = 1.0
    #: a Newton rho step changes rho by at most this factor (a trust region; see RhoNewton)
    _rho_max_factor: float = 10.0

    # --- hooks ---------------------------------------------------------------------------

    def _build_design(self, X: np.ndarray) -> None:
        """Learn the feature transform from the training rows (stored on self)."""
        self._x_mean = X.mean(axis=0)

    def _design(self, X: np.ndarray) -> tuple[np.ndarray, int]:
        """(Z, p_pen): the transformed rows, penalised columns first."""
        return X - self._x_mean, X.shape[1]

    def _finish(self, w: np.ndarray, y_mean: float, n_train: int, alpha_sum: float) -> None:
        self.coef_ = w.copy()
        self.intercept_ = float(y_mean - self._x_mean @ w)

    # --- checks --------------------------------------------------------------------------

    def _check_params(self) -> None:
        check_number("val_fraction", self.val_fraction, low=0.0, high=1.0, low_open=True,
                      high_open=True)
        if self.random_state is not None and not isinstance(
                self.random_state, (numbers.Integral, np.random.RandomState, np.random.Generator)):
            raise TypeError(f"random_state must be None, an int or a numpy random state, "
                            f"got {self.random_state!r}")
        if isinstance(self.random_state, numbers.Integral) and not isinstance(self.random_state, bool):
            check_number("random_state", self.random_state, low=0, integer=True)
        check_number("max_iter", self.max_iter, low=1, integer=True)
        check_number("r", self.r, low=1, integer=True)
        check_number("tol", self.tol, low=0.0)
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_number("rho_lr", self.rho_lr, low=0.0, low_open=True)
        check_choice("rho_optimizer", self.rho_optimizer, ("newton", "sgd", "adam"))
        check_choice("theta_optimizer", self.theta_optimizer, self._theta_modes)

    def _split(self, X: np.ndarray, y: np.ndarray, X_val, y_val):
        """Training and validation rows: the given ones, or a seeded split of (X, y)."""
        name = type(self).__name__
        rng = check_random_state(self.random_state)
        if (X_val is None) != (y_val is None):
            raise ValueError(f"{name}.fit: give both X_val and y_val, or neither")
        if X_val is not None:
            X_val, y_val = validate_data(self, X_val, y_val, reset=False, y_numeric=True,
                                         dtype=np.float64, ensure_min_samples=1)
            if len(X_val) < 2:
                raise ValueError(f"{name}: the validation split needs at least 2 rows, got "
                                 f"{len(X_val)}")
            if len(X) < 2:
                raise ValueError(f"{name}: the training split needs at least 2 rows; "
                                 f"got n_samples={len(X)}")
            return X, y, X_val, y_val, rng
        n = len(X)
        n_val = max(2, math.ceil(self.val_fraction * n))
        if n - n_val < 2:
            raise ValueError(
                f"{name}: too few rows to split off a validation set: need at least 2 training "
                f"and 2 validation rows (val_fraction={self.val_fraction}); got n_samples={n}")
        perm = rng.permutation(n)
        val, tr = perm[:n_val], perm[n_val:]
        return X[tr], y[tr], X[val], y[val], rng

    # --- fit -----------------------------------------------------------------------------

    def fit(self, X, y, X_val=None, y_val=None):
        """Fit on (X, y); rho is learned on (X_val, y_val) or on a seeded ``val_fraction`` split.

        Returns self. Raises ValueError/TypeError naming the problem for NaN/inf, mismatched
        lengths, a validation split with fewer than 2 rows and invalid hyperparameters.
        """
        self._check_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        X_tr, y_tr, X_va, y_va, rng = self._split(X, y, X_val, y_val)
        self._build_design(X_tr)
        Z_tr, p_pen = self._design(X_tr)
        Z_va, _ = self._design(X_va)
        y_mean = float(y_tr.mean())
        n_tr = len(y_tr)
        if p_pen == 0:  # nothing to penalise (a spline on too few distinct x): least squares
            w = np.linalg.lstsq(Z_tr, y_tr - y_mean, rcond=None)[0] if Z_tr.shape[1] else np.zeros(0)
            self.rho_, self.n_iter_, self.fwd_train_, self.fwd_reg_ = 0.0, 0, 0, 0
            self.converged_ = True
            self._finish(w, y_mean, n_tr, math.inf)
            return self
        with one_thread():
            w, rho, n_iter, fwd_train, fwd_reg, converged = self._run_engine(
                Z_tr, y_tr - y_mean, Z_va, y_va - y_mean, p_pen, rng)
        self.rho_ = rho
        self.n_iter_ = n_iter
        self.fwd_train_ = fwd_train
        self.fwd_reg_ = fwd_reg
        self.converged_ = converged
        resid = (y_tr - y_mean) - Z_tr @ w
        alpha_sum = self._equivalent_penalty(Z_tr, resid, w, p_pen)
        self._finish(w, y_mean, n_tr, alpha_sum)
        return self

    def _equivalent_penalty(self, Z: np.ndarray, resid: np.ndarray, w: np.ndarray, p_pen: int) -> float:
        """L2: the alpha of ``|y - Zw|^2 + alpha w_pen^T P w_pen`` (P = I for ridge, diag(s) for
        the spline) whose stationarity condition ``Z_pen^T (y - Zw) = alpha P w_pen`` the fit
        satisfies, by least squares over coordinates: ``alpha = (P w).(Z_pen^T r) / |P w|^2``.
        At convergence w_pen minimises the training loss on the level set R(w_pen) = rho, so
        Z_pen^T r is parallel to P w_pen and this is exact; it is then also the alpha whose
        penalised solution has R = rho."""
        wp = w[:p_pen] * (1.0 if self._pen_weights is None else self._pen_weights)
        denom = float(wp @ wp)
        if denom == 0.0:
            return math.inf
        return float(wp @ (Z[:, :p_pen].T @ resid)) / denom

    def _run_engine(self, Z_tr, y_tr, Z_va, y_va, p_pen, rng):
        seed = int(rng.randint(0, 2**31 - 1))
        shuffle_gen = torch.Generator().manual_seed(seed)
        reg_gen = torch.Generator().manual_seed(seed + 1)
        Zt, yt = torch.as_tensor(Z_tr, dtype=DTYPE), torch.as_tensor(y_tr, dtype=DTYPE)
        Zv, yv = torch.as_tensor(Z_va, dtype=DTYPE), torch.as_tensor(y_va, dtype=DTYPE)
        train, val = Quadratic.of(Zt, yt), Quadratic.of(Zv, yv)
        p_free = Z_tr.shape[1] - p_pen
        model = LinearModel(p_pen, p_free)
        w0, a0 = self._initial_point(train, p_pen)
        with torch.no_grad():
            model.pen.weight.copy_(w0.reshape(1, -1))
            if model.free is not None:
                model.free.weight.copy_(a0.reshape(1, -1))
        family: NormFamily | WeightedL2Family
        if self._pen_weights is None:
            family = NormFamily([model.pen], self._penalty, rho=None, learned=True, names=["norm"])
        else:
            family = WeightedL2Family(model.pen, torch.as_tensor(self._pen_weights, dtype=DTYPE))
        mode = "l1" if self._penalty == "l1" else self.theta_optimizer
        if mode == "newton":
            lr = float(self.lr)
        else:
            L = 2 * float(torch.linalg.eigvalsh(train.C)[-1])
            lr = float(self.lr) / max(L, 1e-300)
        theta_opt = ThetaStep(model, mode, lr, train, family)
        rho_opt: torch.optim.Optimizer
        if self.rho_optimizer == "newton":
            rho_opt = RhoNewton(family, model, float(self.rho_lr), val, self._rho_max_factor,
                                 self._rho_max(Zt, yt, family, p_pen))
        elif self.rho_optimizer == "sgd":
            rho_opt = torch.optim.SGD([family.rho], lr=float(self.rho_lr))
        else:
            rho_opt = torch.optim.Adam([family.rho], lr=float(self.rho_lr))
        engine = Engine(model, family, task="regression", theta_optimizer=theta_opt,
                        rho_optimizer=rho_opt, r=int(self.r), K=1, batch_size=len(yt),
                        reg_batch_size=len(yv), shuffle_generator=shuffle_gen,
                        reg_generator=reg_gen, reg_full_batch=True)

        def current() -> np.ndarray:
            with torch.no_grad():
                parts = [model.pen.weight.reshape(-1)]
                if model.free is not None:
                    parts.append(model.free.weight.reshape(-1))
                return torch.cat(parts).numpy().copy()

        fwd_train = fwd_reg = 0
        converged = False
        w_prev, rho_prev = current(), float(family.rho.detach()[0])
        n_iter = 0
        for n_iter in range(1, int(self.max_iter) + 1):
            stats = engine.train_epoch(Zt, yt, Zv, yv)
            fwd_train += stats.counters.fwd_train
            fwd_reg += stats.counters.fwd_reg
            if stats.diverged:
                raise FloatingPointError(
                    f"{type(self).__name__}: training diverged after {n_iter} steps "
                    f"(lr={self.lr}, rho_lr={self.rho_lr}); lower the step sizes")
            if getattr(rho_opt, "collapsed", False):
                converged = True
                w_final = current()
                w_final[:p_pen] = 0.0
                return w_final, 0.0, n_iter, fwd_train, fwd_reg, converged
            if stats.rho_steps:
                w_now, rho_now = current(), float(family.rho.detach()[0])
                dw = np.linalg.norm(w_now - w_prev) / max(np.linalg.norm(w_now), 1e-300)
                drho = abs(rho_now - rho_prev) / max(abs(rho_now), 1e-300)
                w_prev, rho_prev = w_now, rho_now
                if dw <= self.tol and drho <= self.tol:
                    converged = True
                    break
        if not converged:
            warnings.warn(f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                          f"theta steps (tol={self.tol})", ConvergenceWarning, stacklevel=3)
        return current(), float(family.rho.detach()[0]), n_iter, fwd_train, fwd_reg, converged

    @staticmethod
    def _rho_max(Z: torch.Tensor, y: torch.Tensor, family: LinearFamily, p_pen: int) -> float:
        """R of the (minimum-norm) least-squares solution: the end of the penalty path. A rho
        beyond it would be a negative penalty (the constraint pushing w outwards, which for L1
        inflates every active coefficient); the Newton rho step stays at or below it, so
        alpha_ >= 0 up to convergence tolerance."""
        w = torch.linalg.lstsq(Z, y.reshape(-1, 1), driver="gelsd").solution.reshape(-1)[:p_pen]
        if isinstance(family, WeightedL2Family):
            return float(family.amount(w))
        return float(w.norm()) if family.penalty == "l2" else float(w.abs().sum())

    def _initial_point(self, train: Quadratic, p_pen: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Start at one exact line-search step of gradient descent from w = 0 on the training
        loss (every coordinate non-zero, a data-scaled rho), free block at its least-squares
        value given that start. A zero gradient (constant y) falls back to a uniform direction."""
        q = train.q
        d = q[:p_pen].clone()
        if float(d.abs().max()) <= 1e-12 * max(1.0, float(q.abs().max())) or float(d.abs().max()) == 0:
            d = torch.ones(p_pen, dtype=DTYPE)
        Cpp = train.C[:p_pen, :p_pen]
        curv = float(d @ Cpp @ d)
        t = float(d @ q[:p_pen]) / curv if curv > 0 else 0.0
        w0 = (d * t if t > 0 else d / float(d.norm())) * self._init_scale
        if self._penalty == "l1":  # an exact zero would stay zero in the L1 retraction
            w0 = torch.where(w0 == 0, torch.full_like(w0, 1e-8 * float(w0.abs().max())), w0)
        p_free = train.C.shape[0] - p_pen
        if p_free:
            Cff = train.C[p_pen:, p_pen:]
            rhs = q[p_pen:] - train.C[p_pen:, :p_pen] @ w0
            a0 = torch.linalg.lstsq(Cff, rhs.reshape(-1, 1)).solution.reshape(-1)
        else:
            a0 = torch.zeros(0, dtype=DTYPE)
        return w0, a0

    # --- predict -------------------------------------------------------------------------

    def predict(self, X) -> np.ndarray:
        """Predictions ``X @ coef_ + intercept_`` (for the spline: the fitted additive function)."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class CrossRegRidge(CrossRegBase):
    """Ridge regression whose penalty is learned by cross-regularization in one run.

    The coefficients are ``w = rho * theta`` with |theta| = 1 (`NormFamily("l2")` on the centred
    design; the intercept is unpenalised, by centring X and y on the training split as sklearn
    does). theta follows the training split, rho = |w| the validation split.

    Parameters
    ----------
    val_fraction : fraction of (X, y) split off as the validation split when ``fit`` gets no
        X_val/y_val (``ceil(val_fraction * n)`` rows, at least 2).
    random_state : seeds the split and the engine's generators.
    max_iter : most theta steps (one per engine epoch, full batch).
    r : a rho step after every r theta steps.
    tol : relative change of w and rho between rho steps at which to stop.
    lr : theta step, as a multiple of 1/L (``"gd"``) or of the Newton step (``"newton"``).
    rho_lr : fraction of the Newton step (``rho_optimizer="newton"``) or the torch lr.
    rho_optimizer : ``"newton"``, ``"sgd"`` or ``"adam"``.
    theta_optimizer : ``"newton"`` or ``"gd"``.

    Fitted attributes
    -----------------
    coef_, intercept_ ; rho_ (= |coef_|_2) ; alpha_ : the equivalent sklearn ``Ridge`` alpha
    (objective ``|y - Xw|^2 + alpha |w|^2`` on the training split), from the stationarity
    condition ``X^T (y - Xw) = alpha w`` (see `_equivalent_penalty`); n_iter_ ; converged_ ;
    fwd_train_, fwd_reg_ : sample-forward passes on the training / validation split.
    """

    _penalty = "l2"

    def __init__(self, *, val_fraction: float = 0.2, random_state=0, max_iter: int = 500,
                 r: int = 1, tol: float = 1e-7, lr: float = 1.0, rho_lr: float = 0.5,
                 rho_optimizer: str = "newton", theta_optimizer: str = "newton") -> None:
        self.val_fraction = val_fraction
        self.random_state = random_state
        self.max_iter = max_iter
        self.r = r
        self.tol = tol
        self.lr = lr
        self.rho_lr = rho_lr
        self.rho_optimizer = rho_optimizer
        self.theta_optimizer = theta_optimizer

    def _finish(self, w, y_mean, n_train, alpha_sum):
        super()._finish(w, y_mean, n_train, alpha_sum)
        self.alpha_ = alpha_sum


class CrossRegLasso(CrossRegBase):
    """Lasso whose L1 budget ``rho = |w|_1`` is learned by cross-regularization in one run.

    `NormFamily("l1")` on the centred design: the theta step is the projected gradient step onto
    the L1 sphere of radius rho (see `ThetaStep` for zeros and sign changes), the rho step moves
    w along sign(w)/nnz with the validation gradient. Parameters as `CrossRegRidge`, except that
    the theta optimiser is always projected gradient descent with step ``lr / L`` (a Newton
    preconditioner would not commute with the L1 projection).

    ``alpha_`` is in sklearn's ``Lasso`` convention (``1/(2n) |y - Xw|^2 + alpha |w|_1``): the KKT
    conditions on the active set A read ``x_j^T (y - Xw) / n = alpha * sign(w_j)``, j in A; alpha_
    is their mean over A (they agree at convergence; ``kkt_spread_`` is their max deviation).
    """

    _penalty = "l1"
    _theta_modes = ("gd",)

    def __init__(self, *, val_fraction: float = 0.2, random_state=0, max_iter: int = 5000,
                 r: int = 1, tol: float = 1e-8, lr: float = 1.0, rho_lr: float = 0.5,
                 rho_optimizer: str = "newton", theta_optimizer: str = "gd") -> None:
        self.val_fraction = val_fraction
        self.random_state = random_state
        self.max_iter = max_iter
        self.r = r
        self.tol = tol
        self.lr = lr
        self.rho_lr = rho_lr
        self.rho_optimizer = rho_optimizer
        self.theta_optimizer = theta_optimizer

    def _equivalent_penalty(self, Z, resid, w, p_pen):
        n = len(resid)
        active = w[:p_pen] != 0
        if not active.any():
            self.kkt_spread_ = 0.0
            return math.inf
        per = np.sign(w[:p_pen][active]) * (Z[:, :p_pen][:, active].T @ resid) / n
        alpha = float(per.mean())
        self.kkt_spread_ = float(np.abs(per - alpha).max())
        return alpha

    def _finish(self, w, y_mean, n_train, alpha_sum):
        super()._finish(w, y_mean, n_train, alpha_sum)
        self.alpha_ = alpha_sum

