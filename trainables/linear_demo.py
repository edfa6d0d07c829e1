"""Reference problems for the cross-regularized linear estimators, and the comparison the CLI
prints (``crossreg linear-demo``) beside the classic answers.

* ridge: a synthetic Gaussian design with correlated features; the classic answer is sklearn
  ``Ridge`` over a fine log grid of alpha on the same train/validation split (best validation MSE).
* lasso: sklearn's diabetes data, a seeded 75/25 train/validation split; the classic answers
  are the hold-out lasso path (sklearn ``Lasso`` over a fine alpha grid) and ``LassoCV``
  (5-fold on the training split). The non-zero band is ``[min, max]`` of the non-zero counts
  over the path alphas whose validation MSE is within 1% of the best, widened to include
  LassoCV's count.
* spline: a noisy 1-D function; the classic answer is ``scipy.interpolate.make_smoothing_spline``
  with its GCV-chosen lambda, fitted on all the data; both are scored on a fresh noisy test set
  (and, reported separately, against the noise-free function).

The problem builders are shared by tests/trainables/test_linear.py and
benchmarks/bench_linear.py so that the three report the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import make_smoothing_spline
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, LassoCV, Ridge
from sklearn.model_selection import train_test_split

from .linear import CrossRegLasso, CrossRegRidge, CrossRegSpline

RIDGE_ALPHAS = np.logspace(-3, 5, 400)
LASSO_ALPHAS = np.logspace(-4, 1.5, 300)


@dataclass
class Split:
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


def ridge_problem(seed: int, n_train: int = 200, n_val: int = 100, p: int = 30,
                  noise: float = 2.0, corr: float = 0.3) -> Split:
    """Gaussian rows with Toeplitz(corr) feature correlation, dense Gaussian coefficients.

    The benchmark also runs a harder variant (corr=0.6, n_train=150, n_val=75, p=40): the more
    anisotropic the design, the further the partial-gradient fixed point from the hold-out
    optimum (see BENCHMARKS.md)."""
    rng = np.random.default_rng(seed)
    cov = corr ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    chol = np.linalg.cholesky(cov)
    w = rng.normal(size=p) * 0.5
    n = n_train + n_val
    X = rng.normal(size=(n, p)) @ chol.T
    y = X @ w + 1.0 + noise * rng.normal(size=n)
    return Split(X[:n_train], y[:n_train], X[n_train:], y[n_train:])


def diabetes_problem(seed: int = 0) -> Split:
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=seed)
    return Split(X_tr, y_tr, X_va, y_va)


def spline_truth(x: np.ndarray) -> np.ndarray:
    return np.sin(3 * np.pi * x) * np.exp(-x) + 0.5 * x


@dataclass
class SplineProblem:
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray  # noisy
    f_test: np.ndarray  # noise-free


def spline_problem(seed: int, n: int = 300, n_test: int = 2000, noise: float = 0.3) -> SplineProblem:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.random(n))
    y = spline_truth(x) + noise * rng.normal(size=n)
    x_test = rng.random(n_test)
    f_test = spline_truth(x_test)
    return SplineProblem(x, y, x_test, f_test + noise * rng.normal(size=n_test), f_test)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


def ridge_comparison(seed: int, problem: dict | None = None, **params) -> dict:
    """Cross-reg ridge vs the hold-out ridge path on the same split."""
    s = ridge_problem(seed, **(problem or {}))
    est = CrossRegRidge(random_state=seed, **params).fit(s.X, s.y, s.X_val, s.y_val)
    path = np.array([mse(Ridge(alpha=a).fit(s.X, s.y).predict(s.X_val), s.y_val) for a in RIDGE_ALPHAS])
    best = int(np.argmin(path))
    val = mse(est.predict(s.X_val), s.y_val)
    return {"seed": seed, "val_mse": val, "best_val_mse": float(path[best]),
            "gap": val / float(path[best]) - 1.0, "alpha": est.alpha_,
            "best_alpha": float(RIDGE_ALPHAS[best]), "rho": est.rho_, "n_iter": est.n_iter_,
            "fwd_train": est.fwd_train_, "fwd_reg": est.fwd_reg_,
            "path_fwd": len(RIDGE_ALPHAS) * (len(s.y) + len(s.y_val))}


def lasso_comparison(seed: int = 0, **params) -> dict:
    """Cross-reg lasso vs the hold-out lasso path and LassoCV on diabetes."""
    s = diabetes_problem(seed)
    est = CrossRegLasso(random_state=seed, **params).fit(s.X, s.y, s.X_val, s.y_val)
    fits = [Lasso(alpha=a, max_iter=100_000, tol=1e-10).fit(s.X, s.y) for a in LASSO_ALPHAS]
    path_mse = np.array([mse(m.predict(s.X_val), s.y_val) for m in fits])
    path_nnz = np.array([np.count_nonzero(m.coef_) for m in fits])
    best = int(np.argmin(path_mse))
    near = path_mse <= 1.01 * path_mse[best]
    cv = LassoCV(cv=5, random_state=seed, max_iter=100_000).fit(s.X, s.y)
    cv_nnz = int(np.count_nonzero(cv.coef_))
    band = (min(int(path_nnz[near].min()), cv_nnz), max(int(path_nnz[near].max()), cv_nnz))
    val = mse(est.predict(s.X_val), s.y_val)
    return {"seed": seed, "val_mse": val, "best_val_mse": float(path_mse[best]),
            "gap": val / float(path_mse[best]) - 1.0, "nnz": int(np.count_nonzero(est.coef_)),
            "band": band, "path_band": (int(path_nnz[near].min()), int(path_nnz[near].max())),
            "cv_nnz": cv_nnz, "alpha": est.alpha_, "best_alpha": float(LASSO_ALPHAS[best]),
            "cv_alpha": float(cv.alpha_), "cv_val_mse": mse(cv.predict(s.X_val), s.y_val),
            "rho": est.rho_, "n_iter": est.n_iter_, "fwd_train": est.fwd_train_,
            "fwd_reg": est.fwd_reg_}


def spline_comparison(seed: int, **params) -> dict:
    """Cross-reg spline (its own seeded 80/20 split) vs the GCV smoothing spline (all data)."""
    s = spline_problem(seed)
    est = CrossRegSpline(random_state=seed, **params).fit(s.x[:, None], s.y)
    gcv = make_smoothing_spline(s.x, s.y)
    pred, ref = est.predict(s.x_test[:, None]), gcv(s.x_test)
    test, test_ref = mse(pred, s.y_test), mse(ref, s.y_test)
    return {"seed": seed, "test_mse": test, "gcv_test_mse": test_ref, "ratio": test / test_ref,
            "f_err": mse(pred, s.f_test), "gcv_f_err": mse(ref, s.f_test), "lam": est.lam_,
            "rho": est.rho_, "n_iter": est.n_iter_, "converged": est.converged_,
            "fwd_train": est.fwd_train_, "fwd_reg": est.fwd_reg_}


def demo(seed: int = 0) -> str:
    """Fit the three estimators on their reference problems; a printable comparison."""
    r = ridge_comparison(seed)
    la = lasso_comparison(seed)
    sp = spline_comparison(seed)
    lines = [
        f"cross-regularized linear estimators vs classic searches (seed {seed})",
        "",
        "ridge (synthetic, n_train=200, n_val=100, p=30), validation MSE:",
        (f"  CrossRegRidge            {r['val_mse']:10.4f}  alpha_={r['alpha']:.4g}  rho_={r['rho']:.4g}"
         f"  ({r['n_iter']} steps, {r['fwd_train'] + r['fwd_reg']} sample-forwards)"),
        (f"  Ridge, best of {len(RIDGE_ALPHAS)} alphas {r['best_val_mse']:10.4f}  alpha={r['best_alpha']:.4g}"
         f"  ({r['path_fwd']} sample-forwards)"),
        f"  gap {100 * r['gap']:+.2f}%",
        "",
        "lasso (diabetes, 75/25 split), validation MSE and non-zero coefficients:",
        f"  CrossRegLasso            {la['val_mse']:10.1f}  nnz={la['nnz']}  alpha_={la['alpha']:.4g}",
        (f"  Lasso path, best         {la['best_val_mse']:10.1f}  alpha={la['best_alpha']:.4g}"
         f"  nnz within 1% of best: {la['path_band'][0]}..{la['path_band'][1]}"),
        f"  LassoCV (5-fold)         {la['cv_val_mse']:10.1f}  nnz={la['cv_nnz']}  alpha={la['cv_alpha']:.4g}",
        f"  gap {100 * la['gap']:+.2f}%, band {la['band'][0]}..{la['band'][1]}",
        "",
        "spline (noisy 1-D function, n=300), test MSE on noisy data (error vs the true function):",
        f"  CrossRegSpline           {sp['test_mse']:.5f} ({sp['f_err']:.5f})  lam_={sp['lam']:.4g}",
        f"  smoothing spline, GCV     {sp['gcv_test_mse']:.5f} ({sp['gcv_f_err']:.5f})",
        f"  ratio {sp['ratio']:.3f}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(demo())
