"""Non-finite predicted probabilities make every metric NaN (numpy only: runs without torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import metrics


def _probs(seed: int = 0, n: int = 200, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True), rng.integers(0, k, n)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 57, -1])
def test_one_non_finite_probability_makes_every_metric_nan(bad, where):
    p, y = _probs()
    clean = metrics.classification_metrics(p, y, prefix="test_")
    assert all(math.isfinite(v) for v in clean.values())  # the same data is scored when finite
    p[where, 2] = bad
    m = metrics.classification_metrics(p, y, prefix="test_")
    assert set(m) == set(clean) and all(math.isnan(v) for v in m.values()), m
    for fn in (metrics.accuracy, metrics.ece, metrics.nll, metrics.brier):
        assert math.isnan(fn(p, y)), fn.__name__
    bins = metrics.reliability_bins(p, y)
    assert np.isnan(bins["count"]).all() and np.isnan(bins["confidence"]).all()
    assert np.isnan(bins["accuracy"]).all() and len(bins["edges"]) == metrics.ECE_BINS + 1


def test_finite_metrics_are_unchanged_by_the_check():
    p, y = _probs(1)
    m = metrics.classification_metrics(p, y)
    assert m["acc"] == np.mean(p.argmax(1) == y)
    onehot = np.eye(p.shape[1])[y]
    assert m["brier"] == pytest.approx(np.mean(((p - onehot) ** 2).sum(1)), rel=1e-12)
    assert m["nll"] == pytest.approx(-np.mean(np.log(p[np.arange(len(y)), y])), rel=1e-12)
