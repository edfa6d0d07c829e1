"""Cross-regularized linear estimators against their classic oracles (sklearn Ridge/Lasso paths,
LassoCV, scipy's GCV smoothing spline), sklearn's estimator checks, bad input, accounting."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import make_smoothing_spline
from sklearn.base import clone
from sklearn.linear_model import Lasso, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from trainables import linear_demo as D
from trainables.linear import CrossRegLasso, CrossRegRidge, CrossRegSpline

ESTIMATORS = [CrossRegRidge, CrossRegLasso, CrossRegSpline]


@parametrize_with_checks([E() for E in ESTIMATORS])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------------- ridge


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ridge_validation_mse_within_3pct_of_holdout_path(seed):
    r = D.ridge_comparison(seed)
    assert r["gap"] <= 0.03, r
    assert np.isfinite(r["alpha"]) and r["alpha"] > 0


def test_ridge_is_sklearn_ridge_at_its_alpha():
    """coef_ is the sklearn Ridge solution (training split) at the reported alpha_, whose norm
    is rho_: the equivalent-penalty conversion is exact, not approximate."""
    for seed in (0, 3):  # seed 3: rho_ beyond the least-squares norm, so alpha_ < 0
        s = D.ridge_problem(seed)
        est = CrossRegRidge().fit(s.X, s.y, s.X_val, s.y_val)
        assert est.converged_
        Xc, yc = s.X - s.X.mean(axis=0), s.y - s.y.mean()
        closed = np.linalg.solve(Xc.T @ Xc + est.alpha_ * np.eye(Xc.shape[1]), Xc.T @ yc)
        scale = np.abs(closed).max()
        np.testing.assert_allclose(est.coef_, closed, atol=1e-5 * scale)
        assert np.linalg.norm(est.coef_) == pytest.approx(est.rho_, rel=1e-6)
        if est.alpha_ >= 0:
            ref = Ridge(alpha=est.alpha_).fit(s.X, s.y)
            np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-5 * scale)
            assert est.intercept_ == pytest.approx(ref.intercept_, abs=1e-5 * scale)


def test_ridge_fit_is_the_partial_gradient_fixed_point():
    """At convergence dL_val/drho = 0 with theta fixed: the validation gradient is orthogonal to
    w (that, not the hold-out optimum, is what cross-regularization solves)."""
    interior = 0
    for seed in (0, 1, 2, 3, 4):
        s = D.ridge_problem(seed)
        est = CrossRegRidge().fit(s.X, s.y, s.X_val, s.y_val)
        assert est.converged_
        resid = s.y_val - est.predict(s.X_val)
        grad = -2 * (s.X_val - s.X.mean(axis=0)).T @ resid / len(resid)
        u = est.coef_ / np.linalg.norm(est.coef_)
        if est.alpha_ > 1e-3:  # interior: the partial derivative vanishes
            interior += 1
            assert abs(u @ grad) <= 1e-4 * np.linalg.norm(grad) + 1e-8, seed
        else:  # at the least-squares end (rho_max): the validation still asks for more
            assert u @ grad < 0, seed
    assert interior >= 3


def test_ridge_gd_and_newton_theta_steps_agree():
    s = D.ridge_problem(5)
    a = CrossRegRidge(theta_optimizer="newton").fit(s.X, s.y, s.X_val, s.y_val)
    b = CrossRegRidge(theta_optimizer="gd", max_iter=3000).fit(s.X, s.y, s.X_val, s.y_val)
    assert b.converged_
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-4, atol=1e-5)
    assert b.n_iter_ > a.n_iter_  # the preconditioner is what makes newton fast


@pytest.mark.parametrize("rho_optimizer,rho_lr", [("sgd", 0.5), ("adam", 0.05)])
def test_ridge_torch_rho_optimizers_reach_the_same_fixed_point(rho_optimizer, rho_lr):
    s = D.ridge_problem(6)
    ref = CrossRegRidge().fit(s.X, s.y, s.X_val, s.y_val)
    est = CrossRegRidge(rho_optimizer=rho_optimizer, rho_lr=rho_lr, max_iter=1500)
    est.fit(s.X, s.y, s.X_val, s.y_val)
    assert est.rho_ == pytest.approx(ref.rho_, rel=2e-2)


# --------------------------------------------------------------------------------- lasso


def test_lasso_on_diabetes_inside_the_band_and_within_5pct():
    r = D.lasso_comparison(0)
    lo, hi = r["band"]
    assert lo <= r["nnz"] <= hi, r
    assert r["gap"] <= 0.05, r


def test_lasso_is_sklearn_lasso_at_its_alpha():
    """coef_ (including which coefficients are exactly zero) is sklearn's Lasso at alpha_ (the
    KKT conversion), and the KKT conditions agree across the active set."""
    s = D.diabetes_problem(1)
    est = CrossRegLasso().fit(s.X, s.y, s.X_val, s.y_val)
    assert est.converged_
    ref = Lasso(alpha=est.alpha_, tol=1e-12, max_iter=1_000_000).fit(s.X, s.y)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-4 * scale)
    np.testing.assert_array_equal(est.coef_ == 0, ref.coef_ == 0)
    assert est.kkt_spread_ <= 1e-4 * est.alpha_
    assert np.abs(est.coef_).sum() == pytest.approx(est.rho_, rel=1e-5)


# --------------------------------------------------------------------------------- spline


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spline_test_mse_within_10pct_of_gcv_smoothing_spline(seed):
    r = D.spline_comparison(seed)
    assert r["converged"]
    assert r["ratio"] <= 1.10, r


def test_spline_is_scipy_smoothing_spline_at_its_lambda():
    """Same training rows, lam = lam_ (x units): the fit is make_smoothing_spline's, up to the
    40-knot basis, so lam_ really is the equivalent smoothing parameter."""
    p = D.spline_problem(7)
    x = p.x * 4.0 - 1.0  # not [0, 1]: checks the h^3 unit conversion
    rng = np.random.default_rng(0)
    val = np.zeros(len(x), bool)
    val[rng.choice(len(x), 60, replace=False)] = True
    est = CrossRegSpline().fit(x[~val, None], p.y[~val], x[val, None], p.y[val])
    ref = make_smoothing_spline(x[~val], p.y[~val], lam=est.lam_)
    grid = np.linspace(x.min(), x.max(), 400)
    rms = np.sqrt(np.mean((est.predict(grid[:, None]) - ref(grid)) ** 2))
    assert rms <= 0.01 * p.y.std()


def test_spline_extrapolates_linearly_and_coef_reproduces_predict():
    p = D.spline_problem(8)
    est = CrossRegSpline().fit(p.x[:, None], p.y)
    out = np.array([-2.0, -1.5, -1.0, 2.0, 2.5, 3.0])
    f = est.predict(out[:, None])
    assert abs(f[2] - 2 * f[1] + f[0]) < 1e-9 and abs(f[5] - 2 * f[4] + f[3]) < 1e-9
    # coef_ are B-spline coefficients on t = (x - lo)/h: rebuild the function from them
    from scipy.interpolate import BSpline
    base = est._bases[0]
    grid = np.linspace(base.lo, base.lo + base.h, 50)  # the training range
    spl = BSpline(base.knots, est.coef_, 3)
    np.testing.assert_allclose(spl((grid - base.lo) / base.h) + est.intercept_,
                               est.predict(grid[:, None]), atol=1e-9)


def test_spline_additive_over_features():
    rng = np.random.default_rng(0)
    X = rng.random((300, 2))
    y = np.sin(2 * np.pi * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.normal(size=300)
    est = CrossRegSpline().fit(X, y)
    assert est.score(X, y) > 0.9
    assert list(est.basis_sizes_) == [40, 40]


# ----------------------------------------------------------------------------- accounting


@pytest.mark.parametrize("r", [1, 3])
def test_fitted_counters_are_exact(r):
    s = D.ridge_problem(0)
    est = CrossRegRidge(r=r).fit(s.X, s.y, s.X_val, s.y_val)
    assert est.fwd_train_ == est.n_iter_ * len(s.y)  # one full-batch forward per theta step
    assert est.fwd_reg_ == (est.n_iter_ // r) * len(s.y_val)  # one per rho step, K = 1


def test_seeded_split_is_deterministic_and_owned_by_the_estimator():
    s = D.ridge_problem(0)
    a = CrossRegRidge(random_state=3).fit(s.X, s.y)
    np.random.seed(123)  # global numpy state must not matter
    b = CrossRegRidge(random_state=3).fit(s.X, s.y)
    c = CrossRegRidge(random_state=4).fit(s.X, s.y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)
    n_val = int(np.ceil(0.2 * len(s.y)))
    assert a.fwd_reg_ == a.n_iter_ * n_val


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_params_are_stored_unmodified(Est):
    est = Est(val_fraction=0.3, random_state=7, max_iter=11, r=2, tol=1e-3, lr=0.5, rho_lr=0.25,
              rho_optimizer="adam")
    params = est.get_params()
    assert params["val_fraction"] == 0.3 and params["r"] == 2 and params["rho_optimizer"] == "adam"
    est.set_params(lr=0.75)
    assert clone(est).get_params()["lr"] == 0.75


# ----------------------------------------------------------------------------- bad input


def _xy(n=30, p=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    return X, X @ np.arange(1, p + 1) + rng.normal(size=n)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("where,value,match", [
    ("X", np.nan, "NaN"), ("X", np.inf, "infinity"), ("y", np.nan, "NaN"), ("y", np.inf, "infinity"),
])
def test_non_finite_input_is_named(Est, where, value, match):
    X, y = _xy()
    if where == "X":
        X[3, 1] = value
    else:
        y[5] = value
    with pytest.raises(ValueError, match=match):
        Est().fit(X, y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_bad_shapes_and_splits_are_named(Est):
    X, y = _xy()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        Est().fit(X, y[:-1])
    with pytest.raises(ValueError, match="validation split needs at least 2 rows"):
        Est().fit(X[:20], y[:20], X[20:21], y[20:21])
    with pytest.raises(ValueError, match="give both X_val and y_val"):
        Est().fit(X, y, X_val=X[:5])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        Est().fit(X[:20], y[:20], X[20:], y[20:-1])
    with pytest.raises(ValueError, match="features"):
        Est().fit(X[:20], y[:20], X[20:, :2], y[20:])
    with pytest.raises(ValueError, match="n_samples=3"):
        Est().fit(X[:3], y[:3])
    with pytest.raises(ValueError, match="NaN"):
        Est().fit(X[:20], y[:20], np.full((5, 3), np.nan), y[20:25])


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("param,value,exc,match", [
    ("val_fraction", -0.1, ValueError, "val_fraction must be > 0"),
    ("val_fraction", 1.0, ValueError, "val_fraction must be < 1"),
    ("max_iter", 0, ValueError, "max_iter must be >= 1"),
    ("max_iter", 2.5, TypeError, "max_iter must be an integer"),
    ("r", -1, ValueError, "r must be >= 1"),
    ("tol", -1e-3, ValueError, "tol must be >= 0"),
    ("lr", -1.0, ValueError, "lr must be > 0"),
    ("lr", "fast", TypeError, "lr must be a real number"),
    ("rho_lr", 0.0, ValueError, "rho_lr must be > 0"),
    ("rho_lr", float("nan"), ValueError, "rho_lr must be finite"),
    ("rho_optimizer", "lbfgs", ValueError, "rho_optimizer must be one of"),
    ("random_state", -3, ValueError, "random_state must be >= 0"),
    ("random_state", "seed", TypeError, "random_state must be"),
])
def test_bad_hyperparameters_are_named(Est, param, value, exc, match):
    X, y = _xy()
    with pytest.raises(exc, match=match):
        Est(**{param: value}).fit(X, y)


def test_estimator_specific_bad_hyperparameters():
    X, y = _xy()
    with pytest.raises(ValueError, match="theta_optimizer must be one of"):
        CrossRegLasso(theta_optimizer="newton").fit(X, y)
    with pytest.raises(ValueError, match="n_basis must be >= 4"):
        CrossRegSpline(n_basis=3).fit(X, y)
