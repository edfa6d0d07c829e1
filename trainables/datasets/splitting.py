"""Splitting a loaded dataset into seeded, recorded train / regularization / test tensors.

Every dataset is a *training pool* plus a fixed *test split*. `split` carves the pool into the
split that theta trains on (``train``) and the split that rho (or a search strategy)
validates on (``reg``), normalises with statistics of ``train`` only, and moves the tensors
to the training device. The datasets are small enough to live on the device as whole
tensors: mini-batches are index slices, with no DataLoader worker overhead.

Split rules (identical arguments give identical splits; all randomness comes from
``numpy.random.default_rng(split_seed)``, never from module or global state):

1. ``n_train`` draws a seeded (stratified, for classification) subsample of the pool; it is
   the size of the pool that the split works on, train + reg together.
2. ``n_folds == 1``: ``reg`` is a seeded (stratified) ``reg_fraction`` of that pool,
   ``train`` the rest. ``n_folds > 1`` and ``fold = i``: ``reg`` is fold ``i`` of a seeded
   (stratified) k-fold partition of the pool, ``train`` the other folds. ``fold = -1``
   ("refit", any ``n_folds``): ``train`` is the whole pool and ``reg`` is ``None``.
   Step 1 does not depend on ``n_folds``/``fold``, so every fold and the refit of one grid
   search see exactly the same pool.
3. ``label_noise > 0`` (classification only): a seeded ``round(label_noise * pool)`` of the
   pool's rows get a different class, drawn uniformly from the others on a stream of its own
   (``default_rng([split_seed, LABEL_NOISE_STREAM])``: steps 1 and 2 draw exactly what they
   draw without it). Only ``train`` carries them; ``reg`` keeps every true label (rho and the
   searches validate on clean rows) and the test split is never touched. A row's noisy label
   is the same in every fold and in the refit, since it is drawn on the pool.
4. Features are standardised with the mean and standard deviation of ``train`` (per channel
   for images and sequences, per column for tabular data); regression targets likewise.
   The statistics are recorded in ``Splits.info["normalisation"]`` so that predictions can
   be mapped back to the original units.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .spec import DataError, DatasetSpec, RawDataset, Split, Splits

FIXED_TEST_SEED = 0  # seed of the fixed test split of datasets without an official one
LABEL_NOISE_STREAM = 7  # keeps the noisy labels' draws apart from the split's own


def round_half_up(v: float) -> int:
    """Split sizes round half up (Python's round() would send 7.5 to 8 but 2.5 to 2)."""
    return math.floor(v + 0.5)


def fixed_test_split(
    y: np.ndarray, test_fraction: float, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pool / test indices of a dataset without an official split (seed fixed, not split_seed),
    so the test split stays the same across seeds and strategies."""
    rng = np.random.default_rng(FIXED_TEST_SEED)
    n_test = round_half_up(test_fraction * len(y))
    return holdout(len(y), y if stratify else None, n_test, rng)


def holdout(
    n: int, y: np.ndarray | None, n_out: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (kept, held-out) indices of ``n`` rows with ``n_out`` held out.

    With ``y`` (class labels) the hold-out is stratified: each class contributes its
    proportional share, rounded by largest remainder so that the total is exactly ``n_out``.
    Unlike sklearn's stratified splitters this never fails on tiny classes or tiny ``n_out``.
    """
    perm = rng.permutation(n)
    if y is None or n_out == 0 or n_out == n:
        out = np.sort(perm[:n_out])
    else:
        classes, counts = np.unique(y, return_counts=True)
        quota = counts * (n_out / n)
        take = np.floor(quota).astype(np.int64)
        short = n_out - int(take.sum())
        order = np.argsort(-(quota - take), kind="stable")
        take[order[:short]] += 1
        y_perm = y[perm]
        out = np.sort(np.concatenate(
            [perm[y_perm == c][:k] for c, k in zip(classes, take)]
        ))
    keep = np.setdiff1d(np.arange(n), out, assume_unique=True)
    return keep, out


def kfold(y: np.ndarray, n_folds: int, stratified: bool, rng: np.random.Generator) -> np.ndarray:
    """Fold id (0..n_folds-1) of every row: a seeded, optionally stratified k-fold partition.

    Rows are shuffled, grouped by class (stratified) and dealt round-robin into folds, so
    fold sizes differ by at most one and, within each class, so do per-fold class counts.
    """
    n = len(y)
    perm = rng.permutation(n)
    if stratified:
        perm = perm[np.argsort(y[perm], kind="stable")]
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[perm] = np.arange(n) % n_folds
    return fold_of


def hash_indices(idx: np.ndarray | None) -> str | None:
    if idx is None:
        return None
    return hashlib.sha256(np.ascontiguousarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]


def to_float(x: np.ndarray) -> np.ndarray:
    """Images stored as uint8 become float32 in [0, 1]; anything else float32."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32, copy=False)


def norm_stats(x: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over the reduction axes of ``mode``, shaped to broadcast against x.

    Two passes over chunks of rows with float64 accumulators: exact enough for any of our
    datasets and without a float64 copy of a CIFAR-sized array. A (near-)constant channel
    or column gets std 1, so it maps to 0 instead of inf/NaN.
    """
    axes = tuple(i for i in range(x.ndim) if i != 1) if mode == "channel" else (0,)
    chunk = 4096
    total = sum(x[i:i + chunk].sum(axis=axes, dtype=np.float64, keepdims=True)
                for i in range(0, len(x), chunk))
    n_per_stat = x.size // total.size
    mean = total / n_per_stat
    sq = sum(np.square(x[i:i + chunk] - mean).sum(axis=axes, keepdims=True)
             for i in range(0, len(x), chunk))
    std = np.sqrt(sq / n_per_stat)
    std = np.where(std < 1e-8, 1.0, std)
    return mean, std


def check_label_noise(spec: DatasetSpec, label_noise: float) -> None:
    """Noisy labels are classes: a regression dataset refuses them (0.0 is always fine)."""
    if not 0.0 <= float(label_noise) < 1.0:
        raise DataError(f"label_noise must lie in [0, 1), got {label_noise!r}")
    if label_noise and spec.task != "classification":
        raise DataError(f"label_noise applies to classification; {spec.name!r} is {spec.task}")


def noisy_labels(y_pool: np.ndarray, n_classes: int, label_noise: float,
                 split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The pool's labels with a seeded ``round(label_noise * len)`` of them replaced by a
    different class (uniform over the others), and the sorted positions replaced."""
    rng = np.random.default_rng([int(split_seed), LABEL_NOISE_STREAM])
    n_noisy = round_half_up(float(label_noise) * len(y_pool))
    where = np.sort(rng.choice(len(y_pool), size=n_noisy, replace=False))
    y = np.array(y_pool, copy=True)
    if n_noisy and n_classes > 1:
        shift = rng.integers(1, n_classes, size=n_noisy)  # never the true class
        y[where] = (y[where] + shift) % n_classes
    return y, where


def validate(
    spec: DatasetSpec, n_pool: int, n_train: int | None, reg_fraction: float,
    n_folds: int, fold: int | None,
) -> None:
    if not isinstance(n_folds, (int, np.integer)) or isinstance(n_folds, bool) or n_folds < 1:
        raise DataError(f"n_folds must be an integer >= 1, got {n_folds!r}")
    if fold is not None and (not isinstance(fold, (int, np.integer)) or isinstance(fold, bool)):
        raise DataError(f"fold must be an integer or None, got {fold!r}")
    if n_folds == 1 and fold not in (None, 0, -1):
        raise DataError(f"with n_folds=1, fold must be None/0 (hold-out) or -1 (refit), got {fold}")
    if n_folds > 1 and (fold is None or not -1 <= fold < n_folds):
        raise DataError(
            f"with n_folds={n_folds}, fold must be in [0, {n_folds}) or -1 (refit), got {fold!r}")
    if n_train is not None:
        if not isinstance(n_train, (int, np.integer)) or isinstance(n_train, bool) or n_train < 2:
            raise DataError(f"n_train must be an integer >= 2 or None, got {n_train!r}")
        if n_train > n_pool:
            raise DataError(
                f"n_train={n_train} exceeds the training pool of {spec.name!r} ({n_pool} rows)")
    if n_folds == 1 and fold != -1 and not 0.0 < float(reg_fraction) < 1.0:
        raise DataError(f"reg_fraction must be in (0, 1), got {reg_fraction!r}")
    size = n_train if n_train is not None else n_pool
    if n_folds > size:
        raise DataError(f"n_folds={n_folds} exceeds the pool size {size}")


def split(
    spec: DatasetSpec,
    raw: RawDataset,
    *,
    n_train: int | None,
    reg_fraction: float,
    split_seed: int,
    n_folds: int,
    fold: int | None,
    device: str | torch.device,
    flatten: bool,
    options: Mapping[str, Any],
    label_noise: float = 0.0,
) -> Splits:
    """The splits of ``raw`` (loaded by ``spec`` with ``options``) under the module's rules."""
    classification = spec.task == "classification"
    check_label_noise(spec, label_noise)

    n_pool_all = len(raw.y_pool)
    validate(spec, n_pool_all, n_train, reg_fraction, n_folds, fold)
    rng = np.random.default_rng(split_seed)

    # 1. subsample the pool (stratified for classification)
    if n_train is None or n_train == n_pool_all:
        pool = np.arange(n_pool_all)
    else:
        _, pool = holdout(n_pool_all, raw.y_pool if classification else None, int(n_train), rng)
    y_pool = raw.y_pool[pool]

    # 2. train / reg inside the pool (positions relative to ``pool``)
    if fold == -1:
        train_pos, reg_pos = np.arange(len(pool)), None
    elif n_folds == 1:
        n_reg = round_half_up(float(reg_fraction) * len(pool))
        if not 1 <= n_reg < len(pool):
            raise DataError(
                f"reg_fraction={reg_fraction} of a pool of {len(pool)} leaves an empty split")
        train_pos, reg_pos = holdout(len(pool), y_pool if classification else None, n_reg, rng)
    else:
        fold_of = kfold(y_pool, n_folds, classification, rng)
        train_pos, reg_pos = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
    train_idx = pool[train_pos]
    reg_idx = None if reg_pos is None else pool[reg_pos]

    # 3. normalise with train statistics only
    x_train = to_float(raw.x_pool[train_idx])
    mean, std = norm_stats(x_train, raw.norm)

    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)

    def features(x: np.ndarray) -> torch.Tensor:
        z = to_float(x)
        if np.may_share_memory(z, raw.x_pool) or np.may_share_memory(z, raw.x_test):
            z = z.copy()  # never edit the (cached, read-only) source arrays
        z -= mean32  # in place: no second float copy of a large image pool
        z /= std32
        if flatten:
            z = z.reshape(len(z), -1)
        return torch.from_numpy(np.ascontiguousarray(z)).to(device)

    if classification:
        y_mean, y_std = 0.0, 1.0

        def targets(y: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(y, dtype=np.int64).copy()).to(device)
    else:
        y_tr = raw.y_pool[train_idx].astype(np.float64)
        y_mean, y_std = float(y_tr.mean()), float(y_tr.std())
        y_std = y_std if y_std > 1e-12 else 1.0

        def targets(y: np.ndarray) -> torch.Tensor:
            t = ((np.asarray(y, dtype=np.float64) - y_mean) / y_std).astype(np.float32)
            return torch.from_numpy(t).to(device)

    y_train = raw.y_pool[train_idx]
    noise_info: dict[str, Any] = {}
    if label_noise:
        n_classes = int(raw.info.get("n_classes", spec.n_classes))
        y_noisy, where = noisy_labels(y_pool, n_classes, label_noise, split_seed)
        y_train = y_noisy[train_pos]
        noise_info = {"label_noise": float(label_noise),
                      "n_noisy_train": int(np.isin(train_pos, where).sum())}
    train = Split(features(x_train), targets(y_train))
    reg = None if reg_idx is None else Split(features(raw.x_pool[reg_idx]), targets(raw.y_pool[reg_idx]))
    test = Split(features(raw.x_test), targets(raw.y_test))
    input_shape = tuple(int(s) for s in train.x.shape[1:])

    norm_info: dict[str, Any] = {
        "mode": "channel" if raw.norm == "channel" else "feature",
        "mean": mean.reshape(-1).tolist(),
        "std": std.reshape(-1).tolist(),
    }
    if raw.x_pool.dtype == np.uint8:
        norm_info["scale"] = "uint8 / 255 before standardising"
    if not classification:
        norm_info["target_mean"], norm_info["target_std"] = y_mean, y_std
    info = {
        "dataset": spec.name,
        "options": dict(options),
        "task": spec.task,
        "split_seed": int(split_seed),
        "n_train_requested": None if n_train is None else int(n_train),
        "reg_fraction": float(reg_fraction),
        "n_folds": int(n_folds),
        "fold": None if fold is None else int(fold),
        "refit": fold == -1,
        "n_pool_available": n_pool_all,
        "n_pool": len(pool),
        "n_train": len(train),
        "n_reg": 0 if reg is None else len(reg),
        "n_test": len(test),
        "pool_hash": hash_indices(pool),
        "train_hash": hash_indices(train_idx),
        "reg_hash": hash_indices(reg_idx),
        "normalisation": norm_info,
        "flatten": bool(flatten),
        **noise_info,
        **raw.info,
    }
    return Splits(
        train=train, reg=reg, test=test, task=spec.task,
        n_classes=int(raw.info.get("n_classes", spec.n_classes)) if classification else 0,
        input_shape=input_shape, info=info,
    )
