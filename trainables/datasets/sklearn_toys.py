"""sklearn's shipped datasets, with a fixed test split that does not depend on ``split_seed``.

- ``digits`` (1797 images 8x8): stratified 30% test split drawn with seed 0 -> 1258 pool / 539 test.
- ``diabetes`` (442 rows, 10 features): 30% test split drawn with seed 0 -> 309 pool / 133 test.

Both are read through scikit-learn once per machine and kept as ``.npz`` in
`disk_cache.cache_dir()` (named by scikit-learn's version): a trial process then starts
without importing scikit-learn (~0.5 s of its ~4 s start here).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from importlib import metadata

import numpy as np

from .disk_cache import cache_dir, cached_arrays
from .spec import DatasetSpec, RawDataset, freeze
from .splitting import fixed_test_split


def _bundled(name: str, read: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``read()``'s arrays (scikit-learn's own, imported inside it), from the disk cache when
    this scikit-learn version's copy of ``name`` is there."""
    try:
        version = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:  # importable without its metadata: no name to trust
        return read()
    return cached_arrays(os.path.join(cache_dir(), "sklearn", f"{name}-{version}.npz"), read)


def _read_digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return {"x": bunch.images, "y": bunch.target}


def _read_diabetes() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    return {"x": bunch.data, "y": bunch.target}


@functools.cache
def load_digits_cached() -> RawDataset:
    bunch = _bundled("digits", _read_digits)
    x = bunch["x"].astype(np.float32)[:, None, :, :]  # (n, 1, 8, 8), values 0..16
    y = bunch["y"].astype(np.int64)
    pool, test = fixed_test_split(y, 0.3, stratify=True)
    raw = RawDataset(
        x[pool], y[pool], x[test], y[test], norm="channel",
        info={"test_split": "stratified 30% of sklearn digits, seed 0 (fixed)"},
    )
    freeze(raw.x_pool, raw.y_pool, raw.x_test, raw.y_test)
    return raw


def _load_digits(data_dir: str | None, download: bool) -> RawDataset:
    return load_digits_cached()


@functools.cache
def load_diabetes_cached() -> RawDataset:
    bunch = _bundled("diabetes", _read_diabetes)
    x = bunch["x"].astype(np.float32)
    y = bunch["y"].astype(np.float32)
    pool, test = fixed_test_split(y, 0.3, stratify=False)
    raw = RawDataset(
        x[pool], y[pool], x[test], y[test], norm="feature",
        info={"test_split": "random 30% of sklearn diabetes, seed 0 (fixed)"},
    )
    freeze(raw.x_pool, raw.y_pool, raw.x_test, raw.y_test)
    return raw


def _load_diabetes(data_dir: str | None, download: bool) -> RawDataset:
    return load_diabetes_cached()


DATASETS = (
    DatasetSpec("digits", "classification", 10, (1, 8, 8), _load_digits,
                description="sklearn digits, 8x8 grey images; fixed 30% test split",
                pool_size=1258),
    DatasetSpec("diabetes", "regression", 0, (10,), _load_diabetes,
                description="sklearn diabetes, 10 features; fixed 30% test split",
                pool_size=309),
)
