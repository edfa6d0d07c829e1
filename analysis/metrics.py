"""Classification metrics, vectorised in numpy.

Every function takes class probabilities (rows sum to one), never logits: the
trainables convert logits with a float32 softmax before calling here, so the
numbers in a report are the ones a user would get from the model's predictive
distribution. These are the only definitions in the project; trainables import them.

Non-finite probabilities (a diverged model, NaN in the test inputs) make every metric NaN,
never a number: ``argmax`` of a NaN row still names a class and a NaN confidence still
lands in a bin, so accuracy and ECE would otherwise look like results.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

ECE_BINS = 15
_EPS = 1e-12


def _as_probs(probs: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2:
        raise ValueError(f"probs must be a 2-D array (n_samples, n_classes), got shape {p.shape}")
    if y.ndim != 1 or y.shape[0] != p.shape[0]:
        raise ValueError(f"labels must be 1-D with {p.shape[0]} entries, got shape {y.shape}")
    if p.shape[0] == 0:
        raise ValueError("metrics need at least one sample")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must lie in [0, {p.shape[1] - 1}]")
    return p, y.astype(np.int64)


def _finite(p: np.ndarray) -> bool:
    return bool(np.isfinite(p).all())


def accuracy(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Fraction of samples whose arg-max class is the label (NaN if any probability is not finite)."""
    p, y = _as_probs(probs, labels)
    if not _finite(p):
        return math.nan
    return float(np.mean(p.argmax(axis=1) == y))


def reliability_bins(probs: npt.ArrayLike, labels: npt.ArrayLike,
                     n_bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Top-label reliability diagram on ``n_bins`` equal-width bins of [0, 1].

    Bin b holds confidences in [b/n, (b+1)/n), and the last bin is closed on both
    sides, so a confidence of exactly 1.0 falls in it (docs/contract.md, "Metrics"). These are
    ``np.histogram``'s semantics and torchmetrics' left-closed convention. Why not
    copy torchmetrics outright: torchmetrics 1.x counts a confidence of exactly 1.0
    in a hidden (n+1)-th bin of its own (``bucketize(right=True) - 1`` with n+1
    accumulators; Lightning-AI/torchmetrics#3510), which changes the ECE of any
    model whose float32 softmax saturates. The comparison runs in float64 against
    ``np.linspace`` edges; torchmetrics compares in float32 against
    ``torch.linspace`` edges, some of which differ from the float64 ones by more
    than float32 rounding, so a float32 confidence sitting exactly on such an edge
    can land one bin apart (dyadic edges, e.g. n=8, agree exactly; tested).

    Returns per-bin ``count``, ``confidence`` (mean), ``accuracy`` (mean) and the
    bin ``edges``; empty bins carry NaN means and zero count. Non-finite probabilities
    make every count and mean NaN (there is no diagram of such a model).
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    p, y = _as_probs(probs, labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    if not _finite(p):
        nan = np.full(n_bins, np.nan)
        return {"edges": edges, "count": nan, "confidence": nan.copy(), "accuracy": nan.copy()}
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    # left-closed bins: index of the last edge <= conf; 1.0 (index n) joins bin n-1
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        mean_acc = np.where(count > 0, acc_sum / count, np.nan)
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": mean_acc}


def ece(probs: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error: sum over bins of mass * |accuracy - confidence| (NaN if any
    probability is not finite)."""
    bins = reliability_bins(probs, labels, n_bins)
    if np.isnan(bins["count"]).any():
        return math.nan
    mass = bins["count"] / bins["count"].sum()
    gap = np.abs(np.nan_to_num(bins["accuracy"]) - np.nan_to_num(bins["confidence"]))
    return float(np.sum(mass * gap))


def nll(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of the labels (probabilities clipped at 1e-12; NaN if any
    probability is not finite)."""
    p, y = _as_probs(probs, labels)
    if not _finite(p):
        return math.nan
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))))


def brier(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Multi-class Brier score: mean over samples of sum_k (p_k - onehot_k)^2 (NaN if any
    probability is not finite)."""
    p, y = _as_probs(probs, labels)
    if not _finite(p):
        return math.nan
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def classification_metrics(probs: npt.ArrayLike, labels: npt.ArrayLike,
                           prefix: str = "") -> dict[str, float]:
    """accuracy, ece, nll and brier in one dict, keys prefixed (e.g. ``test_``).

    All four are NaN together when any probability is not finite: one NaN prediction means
    the model's output on the split is not a distribution, and a partial score would hide it.
    """
    p, y = _as_probs(probs, labels)
    if not _finite(p):
        return {f"{prefix}{m}": math.nan for m in ("acc", "ece", "nll", "brier")}
    return {
        f"{prefix}acc": accuracy(p, y),
        f"{prefix}ece": ece(p, y),
        f"{prefix}nll": nll(p, y),
        f"{prefix}brier": brier(p, y),
    }
