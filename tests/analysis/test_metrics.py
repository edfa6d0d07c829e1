"""analysis.metrics against oracles: torchmetrics (ECE), scikit-learn (NLL, accuracy), formulas."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import metrics

torch = pytest.importorskip("torch")
tm_cls = pytest.importorskip("torchmetrics.functional.classification")
from sklearn.metrics import accuracy_score, log_loss


def _softmax32(logits: np.ndarray) -> np.ndarray:
    """Float32 softmax, as the trainables produce it (docs/contract.md, "Metrics")."""
    return torch.softmax(torch.as_tensor(logits, dtype=torch.float32), dim=1).numpy()


def _tm_ece(p: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    return float(tm_cls.multiclass_calibration_error(
        torch.as_tensor(p), torch.as_tensor(y), num_classes=p.shape[1], n_bins=n_bins, norm="l1"))


def _tm_ece_last_bin_closed(p: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """torchmetrics' own binning arithmetic with its last edge nudged above 1.0.

    torchmetrics 1.x puts a confidence of exactly 1.0 in a phantom (n+1)-th bin
    (Lightning-AI/torchmetrics#3510); nudging the last boundary moves it into the
    last real bin, which is the contract's rule (docs/contract.md), and leaves everything else as is.
    """
    from torchmetrics.functional.classification.calibration_error import (
        _ce_compute,
        _multiclass_calibration_error_update,
    )
    conf, acc = _multiclass_calibration_error_update(torch.as_tensor(p), torch.as_tensor(y))
    edges = torch.linspace(0, 1, n_bins + 1, dtype=conf.dtype)
    edges[-1] = torch.nextafter(torch.tensor(1.0), torch.tensor(2.0))
    return float(_ce_compute(conf, acc, edges, norm="l1"))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_classes", [2, 10])
def test_ece_matches_torchmetrics_on_random_probabilities(seed, n_classes):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=rng.uniform(0.5, 4.0), size=(2000, n_classes))
    p = _softmax32(logits)
    y = rng.integers(0, n_classes, 2000)
    ours = metrics.ece(p, y)
    assert ours == pytest.approx(_tm_ece_last_bin_closed(p, y), abs=1e-6)
    if np.all(p.max(1) < 1.0):  # no phantom-bin case: the public function agrees too
        assert ours == pytest.approx(_tm_ece(p, y), abs=1e-6)


def test_ece_with_ties_and_exact_edges_matches_torchmetrics():
    # Repeated identical rows (ties between samples), rows whose top two classes tie
    # (both libraries take the first arg-max), and confidences exactly on bin edges that
    # are exact in float32 and float64 (n_bins=8: dyadic edges), where the left-closed
    # convention decides the bin.
    rng = np.random.default_rng(0)
    base = _softmax32(rng.normal(size=(50, 4)))
    p = np.repeat(base, 7, axis=0)
    edge_conf = np.array([0.25, 0.375, 0.5, 0.625, 0.75, 0.875], dtype=np.float32)
    edge_rows = np.stack([edge_conf, 1 - edge_conf], axis=1).astype(np.float32)
    edge_rows = np.repeat(edge_rows, 5, axis=0)
    two = np.pad(edge_rows, ((0, 0), (0, 2)))
    tie = np.tile(np.array([[0.5, 0.5, 0.0, 0.0]], dtype=np.float32), (20, 1))
    p = np.concatenate([p, two, tie]).astype(np.float32)
    y = rng.integers(0, 4, len(p))
    y[-20:-10] = 0  # tie rows: arg-max is class 0, so these are correct...
    y[-10:] = 1  # ...and these wrong, in both libraries
    for n_bins in (15, 8):
        assert metrics.ece(p, y, n_bins) == pytest.approx(_tm_ece(p, y, n_bins), abs=1e-6)
    rb = metrics.reliability_bins(p, y, 8)
    # 0.5 sits on an edge: left-closed bins put it in bin 4, [0.5, 0.625)
    assert rb["count"][4] == np.sum(np.isin(p.max(1), [np.float32(0.5)]) | ((p.max(1) > 0.5) & (p.max(1) < 0.625)))
    assert metrics.accuracy(tie, np.zeros(20, dtype=int)) == 1.0


def test_ece_with_exact_one_confidences():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(500, 5))
    logits[:100, 0] = 200.0  # float32 softmax saturates: confidence exactly 1.0
    p = _softmax32(logits)
    assert np.sum(p.max(1) == 1.0) == 100
    y = rng.integers(0, 5, 500)
    # Where every 1.0-confident prediction is right, the phantom bin contributes 0 and
    # torchmetrics' public function agrees with ours.
    y_right = y.copy()
    y_right[:100] = 0
    assert metrics.ece(p, y_right) == pytest.approx(_tm_ece(p, y_right), abs=1e-6)
    # Where some are wrong, compare with torchmetrics' arithmetic with 1.0 in the last bin.
    y_wrong = y.copy()
    y_wrong[:30] = 1
    assert metrics.ece(p, y_wrong) == pytest.approx(_tm_ece_last_bin_closed(p, y_wrong), abs=1e-6)
    bins = metrics.reliability_bins(p, y_wrong)
    assert bins["count"].sum() == 500 and bins["count"][-1] >= 100


def test_ece_one_in_last_bin_by_hand():
    # conf 0.95 (right) and 1.0 (wrong) share the last bin [14/15, 1]:
    # |mean acc - mean conf| = |0.5 - 0.975| = 0.475 over the whole mass.
    p = np.array([[0.95, 0.05], [1.0, 0.0]])
    y = np.array([0, 1])
    assert metrics.ece(p, y) == pytest.approx(0.475, abs=1e-12)
    bins = metrics.reliability_bins(p, y)
    assert bins["count"][-1] == 2 and np.isnan(bins["accuracy"][0])


def test_reliability_bins_match_numpy_histogram():
    rng = np.random.default_rng(3)
    p = _softmax32(rng.normal(scale=2, size=(1000, 3)))
    y = rng.integers(0, 3, 1000)
    conf = p.max(1).astype(np.float64)
    counts, _ = np.histogram(conf, bins=np.linspace(0, 1, 16))
    rb = metrics.reliability_bins(p, y)
    np.testing.assert_array_equal(rb["count"], counts)
    correct = p.argmax(1) == y
    for b in np.flatnonzero(counts):
        m = (conf >= b / 15) & ((conf < (b + 1) / 15) if b < 14 else (conf <= 1))
        assert rb["confidence"][b] == pytest.approx(conf[m].mean())
        assert rb["accuracy"][b] == pytest.approx(correct[m].mean())


@pytest.mark.parametrize("seed", range(3))
def test_nll_accuracy_brier_match_sklearn_and_formula(seed):
    rng = np.random.default_rng(seed)
    p = _softmax32(rng.normal(scale=3, size=(300, 6))).astype(np.float64)
    p /= p.sum(1, keepdims=True)
    y = rng.integers(0, 6, 300)
    assert metrics.nll(p, y) == pytest.approx(log_loss(y, p, labels=range(6)), rel=1e-9)
    assert metrics.accuracy(p, y) == pytest.approx(accuracy_score(y, p.argmax(1)))
    direct = np.mean([sum((p[i, k] - (k == y[i])) ** 2 for k in range(6)) for i in range(300)])
    assert metrics.brier(p, y) == pytest.approx(direct, rel=1e-12)
    both = metrics.classification_metrics(p, y, prefix="test_")
    assert set(both) == {"test_acc", "test_ece", "test_nll", "test_brier"}


def test_nll_clips_zero_probability():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert metrics.nll(p, np.array([1, 0])) == pytest.approx(-(np.log(1e-12) + np.log(0.5)) / 2)


@pytest.mark.parametrize("probs, labels, match", [
    (np.ones(4) / 4, np.array([0]), "2-D"),
    (np.ones((3, 2)) / 2, np.array([0, 1]), "3 entries"),
    (np.ones((2, 2)) / 2, np.array([[0], [1]]), "1-D"),
    (np.ones((2, 2)) / 2, np.array([0.0, 1.0]), "integers"),
    (np.ones((2, 2)) / 2, np.array([0, 2]), r"\[0, 1\]"),
    (np.ones((2, 2)) / 2, np.array([-1, 0]), r"\[0, 1\]"),
    (np.ones((0, 2)), np.array([], dtype=int), "at least one"),
])
def test_bad_inputs_raise(probs, labels, match):
    for fn in (metrics.accuracy, metrics.ece, metrics.nll, metrics.brier):
        with pytest.raises(ValueError, match=match):
            fn(probs, labels)


def test_bad_bin_count():
    with pytest.raises(ValueError, match="n_bins"):
        metrics.reliability_bins(np.ones((2, 2)) / 2, np.array([0, 1]), n_bins=0)
