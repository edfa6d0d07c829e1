"""Temperature scaling: fitted on over-confident synthetic predictions it finds T > 1, the
minimiser of the NLL (checked against the root of the objective's derivative in 1/T, found
by scipy's brentq), never raises the NLL of its fitting split and leaves argmax accuracy
alone; in a trial the _ts columns are those of the test predictions scaled by that T."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from analysis.metrics import accuracy, classification_metrics, nll
from trainables import run_trial
from trainables.calibration import (
    T_BOUNDS,
    fit_temperature,
    scale_probs,
    temperature_nll,
)
from trainables.trial import Trial


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _synthetic(sharpen: float, n: int = 2000, classes: int = 5, seed: int = 0):
    """Labels drawn from softmax(z); the 'model' reports softmax(sharpen * z): over-confident
    for sharpen > 1, so the ideal temperature is ``sharpen``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, size=(n, classes))
    labels = np.array([rng.choice(classes, p=p) for p in _softmax(z)])
    return _softmax(sharpen * z).astype(np.float32), labels


def _oracle(probs: np.ndarray, labels: np.ndarray) -> float:
    """The minimiser in closed-form-ish: the objective is convex in b = 1/T, so its minimum is
    the root of d/db mean(logsumexp(b z) - b z_y) = mean(E_softmax(bz)[z] - z_y)."""
    z = np.log(np.clip(probs.astype(np.float64), 1e-12, 1.0))

    def slope(b: float) -> float:
        return float(np.mean((_softmax(b * z) * z).sum(axis=1) - z[np.arange(len(labels)), labels]))

    low, high = T_BOUNDS
    return 1.0 / brentq(slope, 1.0 / high, 1.0 / low, xtol=1e-14, rtol=1e-14)


@pytest.mark.parametrize("sharpen", [3.0, 1.6])
def test_over_confident_logits_get_t_above_one_at_the_nll_minimum(sharpen):
    probs, labels = _synthetic(sharpen)
    t = fit_temperature(probs, labels)
    assert t > 1.0
    assert t == pytest.approx(_oracle(probs, labels), rel=1e-7)
    assert abs(t - sharpen) < 0.3 * sharpen  # the sharpening undone, up to sampling noise
    scaled = scale_probs(probs, t)
    assert np.array_equal(scaled.argmax(axis=1), probs.argmax(axis=1))
    assert accuracy(scaled, labels) == accuracy(probs, labels)
    assert nll(scaled, labels) < nll(probs, labels)
    assert temperature_nll(probs, labels, t) <= temperature_nll(probs, labels, 1.0)
    for other in (0.8 * t, 1.25 * t):  # a minimum
        assert temperature_nll(probs, labels, t) < temperature_nll(probs, labels, other)


def test_under_confident_predictions_get_t_below_one():
    probs, labels = _synthetic(0.4)
    t = fit_temperature(probs, labels)
    assert t < 1.0 and t == pytest.approx(_oracle(probs, labels), rel=1e-7)


def test_calibrated_predictions_keep_their_nll_and_t_near_one():
    probs, labels = _synthetic(1.0, n=4000)
    t = fit_temperature(probs, labels)
    assert abs(t - 1.0) < 0.1
    assert nll(scale_probs(probs, t), labels) <= nll(probs, labels) + 1e-9


def test_scaling_by_one_is_the_identity_and_non_finite_inputs_give_nan():
    probs, labels = _synthetic(2.0, n=50)
    np.testing.assert_allclose(scale_probs(probs, 1.0), probs, rtol=1e-5, atol=1e-7)
    bad = probs.copy()
    bad[3, 0] = np.nan
    assert math.isnan(fit_temperature(bad, labels))
    assert np.isnan(scale_probs(probs, math.nan)).all()


SMALL = {"dataset": "digits", "n_train": 200, "model": "mlp", "width": 32, "epochs": 2,
         "batch_size": 32, "eval_batch_size": 128, "seed": 2}


def test_trial_reports_ts_columns_and_leaves_accuracy_alone():
    trial = Trial({**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.2, "K": 2})
    rows = [trial.run_epoch() for _ in range(2)]
    row = rows[-1]
    for key in ("ts_temperature", "test_ece_ts", "test_nll_ts"):
        assert math.isfinite(row[key]), key
    labels = trial.splits.test.y.numpy()
    raw = trial.predictions["test"].numpy()
    val_t = fit_temperature(trial.predictions["val"].numpy(), trial.splits.reg.y.numpy())
    assert row["ts_temperature"] == val_t  # fitted on the regularization split
    scaled = classification_metrics(scale_probs(raw, row["ts_temperature"]), labels)
    assert (row["test_ece_ts"], row["test_nll_ts"]) == (scaled["ece"], scaled["nll"])
    assert row["test_acc"] == accuracy(raw, labels) == scaled["acc"]  # accuracy untouched
    assert row["test_nll"] == nll(raw, labels)


def test_no_regularization_split_or_regression_gives_nan_ts_columns():
    refit = run_trial({**SMALL, "n_folds": 3, "fold": -1, "epochs": 1, "role": "refit"})[0]
    regression = run_trial({**SMALL, "dataset": "diabetes", "epochs": 1})[0]
    for row in (refit, regression):
        for key in ("ts_temperature", "test_ece_ts", "test_nll_ts"):
            assert math.isnan(row[key]), key
    assert math.isfinite(refit["test_acc"])
