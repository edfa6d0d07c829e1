"""Temperature scaling (Guo et al., 2017) of a model's predictive probabilities.

A trial reports every final model twice: as trained, and after temperature scaling, the
calibration baseline the paper compares cross-regularization against. One scalar T > 0 is
fitted on held-out rows (the regularization split) by minimising the NLL of
``softmax(log p / T)``, ``p`` being the model's mean predictive probability (over its K
samples, or over an ensemble's members), and applied to the test predictions. Dividing every
log-probability of a row by the same positive T keeps their order, so the predicted class,
and accuracy, never change.

How T is found: `scipy.optimize.minimize_scalar` with the bounded Brent method on log T in
[log 0.01, log 100], in float64 numpy. The objective is one-dimensional, smooth and convex in
1/T (a log-sum-exp of functions linear in 1/T, minus a linear term), hence unimodal in log T:
a bracketing method finds its minimum to the tolerance asked with no starting point, step
size or line search to tune, deterministically, in a few dozen evaluations of an n x C array
(well under a millisecond for a validation split, so it runs every epoch). LBFGS on log T in
torch reaches the same point but needs those choices and float64 care. T is kept at 1 if the
search should ever end worse than 1 on the fitting rows, so scaling never raises their NLL.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar

#: the interval T is searched in: wider than any useful temperature, and it keeps
#: softmax(log p / T) finite in float64
T_BOUNDS = (1e-2, 1e2)
#: probabilities are clipped here before the log (as `analysis.metrics.nll` clips): a float32
#: softmax that underflowed to 0 would otherwise give -inf logits
_EPS = 1e-12


def _log_probs(probs: npt.ArrayLike) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1.0))


def _nll(z: np.ndarray, labels: np.ndarray, inv_t: float) -> float:
    """Mean NLL of ``softmax(z * inv_t)`` (z: log-probabilities, one row per sample)."""
    s = z * inv_t
    top = s.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
    return float(np.mean(lse - s[np.arange(len(labels)), labels]))


def temperature_nll(probs: npt.ArrayLike, labels: npt.ArrayLike, temperature: float) -> float:
    """The objective: mean NLL of ``softmax(log p / temperature)`` on these rows."""
    return _nll(_log_probs(probs), np.asarray(labels, dtype=np.int64), 1.0 / temperature)


def fit_temperature(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The T in `T_BOUNDS` minimising the NLL of ``softmax(log p / T)`` on (probs, labels);
    NaN if any probability is not finite (no distribution to scale)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or len(p) != len(y) or len(y) == 0:
        raise ValueError(f"probs (n, C) and n labels needed, got {p.shape} and {y.shape}")
    if not np.isfinite(p).all():
        return math.nan
    z = _log_probs(p)
    low, high = T_BOUNDS
    result = minimize_scalar(lambda log_t: _nll(z, y, math.exp(-log_t)),
                             bounds=(math.log(low), math.log(high)), method="bounded",
                             options={"xatol": 1e-7})
    temperature = math.exp(float(result.x))
    if _nll(z, y, 1.0 / temperature) > _nll(z, y, 1.0):
        return 1.0
    return temperature


def scale_probs(probs: npt.ArrayLike, temperature: float) -> np.ndarray:
    """``softmax(log p / temperature)`` as float32 (the precision every reported
    probability has); NaN rows where ``probs`` or the temperature are not finite."""
    s = _log_probs(probs) / temperature
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


__all__ = ["T_BOUNDS", "fit_temperature", "scale_probs", "temperature_nll"]
