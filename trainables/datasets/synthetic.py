"""Seeded synthetic datasets: pool and test are generated from the dataset's own ``seed``
option (default 0), with sizes given as options (``load_splits(..., options=...)``)."""

from __future__ import annotations

import numpy as np

from .spec import DataError, DatasetSpec, RawDataset


def _load_synthetic_regression(
    data_dir: str | None,
    download: bool,
    n_pool: int = 500,
    n_test: int = 2000,
    n_features: int = 50,
    noise: float = 1.0,
    seed: int = 0,
) -> RawDataset:
    """Linear-Gaussian regression: x ~ N(0, I), y = x @ w + noise * eps, w ~ N(0, I / d).

    The signal variance is 1, so ``noise`` is the noise-to-signal standard deviation ratio;
    with the defaults (500 rows, 50 features, noise 1) ridge clearly beats least squares.
    """
    if min(n_pool, n_test, n_features) < 1 or noise < 0:
        raise DataError("synthetic-regression needs n_pool, n_test, n_features >= 1 and noise >= 0")
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 1.0 / np.sqrt(n_features), size=n_features)
    x = rng.normal(size=(n_pool + n_test, n_features))
    y = x @ w + noise * rng.normal(size=n_pool + n_test)
    x, y = x.astype(np.float32), y.astype(np.float32)
    return RawDataset(
        x[:n_pool], y[:n_pool], x[n_pool:], y[n_pool:], norm="feature",
        info={"generator": f"linear-gaussian, seed {seed}", "noise": noise},
    )


def _load_synthetic_classification(
    data_dir: str | None,
    download: bool,
    n_pool: int = 1000,
    n_test: int = 2000,
    n_features: int = 20,
    n_informative: int | None = None,
    n_classes: int = 4,
    class_sep: float = 1.0,
    flip_y: float = 0.05,
    seed: int = 0,
) -> RawDataset:
    """sklearn ``make_classification`` (Gaussian clusters on hypercube vertices, seeded).

    ``n_informative`` defaults to half the features; the rest are pure noise features.
    """
    from sklearn.datasets import make_classification

    if n_informative is None:
        n_informative = max(1, n_features // 2)

    try:
        x, y = make_classification(
            n_samples=n_pool + n_test, n_features=n_features, n_informative=n_informative,
            n_redundant=0, n_classes=n_classes, class_sep=class_sep, flip_y=flip_y,
            random_state=seed,
        )
    except ValueError as e:
        raise DataError(f"synthetic-classification: {e}") from e
    x, y = x.astype(np.float32), y.astype(np.int64)
    return RawDataset(
        x[:n_pool], y[:n_pool], x[n_pool:], y[n_pool:], norm="feature",
        info={"generator": f"sklearn make_classification, seed {seed}", "n_classes": n_classes},
    )


DATASETS = (
    DatasetSpec("synthetic-regression", "regression", 0, (50,), _load_synthetic_regression,
                description="seeded linear-Gaussian regression", pool_size=500),
    DatasetSpec("synthetic-classification", "classification", 4, (20,),
                _load_synthetic_classification,
                description="seeded sklearn make_classification", pool_size=1000),
)
