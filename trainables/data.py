"""Datasets as seeded, recorded train / regularization / test splits of in-memory tensors.

Every dataset is a *training pool* plus a fixed *test split*. ``load_splits`` carves the
pool into the split that theta trains on (``train``) and the split that rho (or a search
strategy) validates on (``reg``), normalises with statistics of ``train`` only, and moves
the tensors to the training device. The datasets here are small enough to live on the
device as whole tensors: mini-batches are index slices, with no DataLoader worker overhead.

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
3. Features are standardised with the mean and standard deviation of ``train`` (per channel
   for images and sequences, per column for tabular data); regression targets likewise.
   The statistics are recorded in ``Splits.info["normalisation"]`` so that predictions can
   be mapped back to the original units.

Datasets without an official test split get a fixed one that does not depend on
``split_seed`` (the test split must stay the same across seeds and strategies):

- ``digits`` (sklearn, 1797 images 8x8): stratified 30% test split drawn with seed 0
  -> 1258 pool / 539 test.
- ``diabetes`` (sklearn, 442 rows, 10 features): 30% test split drawn with seed 0
  -> 309 pool / 133 test.
- ``synthetic-regression`` / ``synthetic-classification``: pool and test are generated
  from the dataset's own ``seed`` option (default 0), with sizes given as options.

The torchvision datasets (``cifar10``, ``cifar100``, ``svhn``, ``mnist``, ``fashion-mnist``)
read the files that torchvision itself expects under ``data_dir``; they download only when
``download=True``. Missing files raise one ``DataError`` saying what to fetch and where.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import os
import random
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

__all__ = [
    "DATASETS",
    "DataError",
    "DatasetSpec",
    "RawDataset",
    "check_dataset",
    "dataset_spec",
    "Split",
    "Splits",
    "dataset_names",
    "load_splits",
]


class DataError(ValueError):
    """A dataset cannot be loaded or split as asked (unknown name, missing files, bad sizes)."""


# --------------------------------------------------------------------------------------
# Public containers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """One split: inputs ``x`` (n, *input_shape) float32 and targets ``y``.

    ``y`` is int64 class indices (n,) for classification and float32 (n,) for regression
    (a model with ``n_out=1`` returns (n, 1): squeeze it before the loss, or MSE broadcasts).
    """

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Splits:
    """Train / regularization / test splits of one dataset, plus what describes them.

    ``reg`` is ``None`` for a refit (``fold=-1``). ``input_shape`` is the per-sample shape of
    ``x`` as returned (``(d,)`` when ``flatten=True``). ``info`` records everything needed to
    reproduce or audit the split: dataset name, options, seed, sizes, index hashes and the
    normalisation statistics.
    """

    train: Split
    reg: Split | None
    test: Split
    task: str
    n_classes: int
    input_shape: tuple[int, ...]
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RawDataset:
    """A dataset before splitting: numpy arrays in their natural per-sample shape.

    ``x_*`` may be uint8 (images, converted to float32 in [0, 1] after indexing, which keeps
    CIFAR-sized pools small in memory) or float. ``norm`` is ``"channel"`` (statistics per
    axis-1 channel, for images and sequences) or ``"feature"`` (per column, for tabular data).
    """

    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    norm: str
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: how to load one dataset and what it is.

    ``load(data_dir, download, **options)`` returns a ``RawDataset``; ``options`` are the
    loader's keyword arguments (e.g. sizes of a synthetic set), overridable through
    ``load_splits(..., options=...)``.
    """

    name: str
    task: str
    n_classes: int
    input_shape: tuple[int, ...]
    load: Callable[..., RawDataset]
    needs_data_dir: bool = False
    description: str = ""
    #: rows in the training pool under the loader's defaults (what a trial loads): lets a
    #: driver check ``n_train`` without loading the data (None: known only once loaded)
    pool_size: int | None = None

    def option_names(self) -> tuple[str, ...]:
        params = inspect.signature(self.load).parameters
        return tuple(p for p in params if p not in ("data_dir", "download"))


# --------------------------------------------------------------------------------------
# Loaders: generated / shipped
# --------------------------------------------------------------------------------------

_FIXED_TEST_SEED = 0  # seed of the fixed test split of datasets without an official one


def _freeze(*arrays: np.ndarray) -> None:
    """Cached arrays are shared between calls: make accidental in-place edits fail loudly."""
    for a in arrays:
        a.flags.writeable = False


def _round_half_up(v: float) -> int:
    """Split sizes round half up (Python's round() would send 7.5 to 8 but 2.5 to 2)."""
    return int(math.floor(v + 0.5))


def _fixed_test_split(
    y: np.ndarray, test_fraction: float, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pool / test indices of a dataset without an official split (seed fixed, not split_seed)."""
    rng = np.random.default_rng(_FIXED_TEST_SEED)
    n_test = _round_half_up(test_fraction * len(y))
    return _holdout(len(y), y if stratify else None, n_test, rng)


@functools.lru_cache(maxsize=None)
def _load_digits_cached() -> RawDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[:, None, :, :]  # (n, 1, 8, 8), values 0..16
    y = bunch.target.astype(np.int64)
    pool, test = _fixed_test_split(y, 0.3, stratify=True)
    raw = RawDataset(
        x[pool], y[pool], x[test], y[test], norm="channel",
        info={"test_split": "stratified 30% of sklearn digits, seed 0 (fixed)"},
    )
    _freeze(raw.x_pool, raw.y_pool, raw.x_test, raw.y_test)
    return raw


def _load_digits(data_dir: str | None, download: bool) -> RawDataset:
    return _load_digits_cached()


@functools.lru_cache(maxsize=None)
def _load_diabetes_cached() -> RawDataset:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.float32)
    pool, test = _fixed_test_split(y, 0.3, stratify=False)
    raw = RawDataset(
        x[pool], y[pool], x[test], y[test], norm="feature",
        info={"test_split": "random 30% of sklearn diabetes, seed 0 (fixed)"},
    )
    _freeze(raw.x_pool, raw.y_pool, raw.x_test, raw.y_test)
    return raw


def _load_diabetes(data_dir: str | None, download: bool) -> RawDataset:
    return _load_diabetes_cached()


@functools.lru_cache(maxsize=8)
def _mnist1d_arrays(num_samples: int, seed: int) -> tuple[np.ndarray, ...]:
    """Generate MNIST-1D locally with the package's own recipe (never its download path).

    ``make_dataset`` reseeds Python's and numpy's *global* generators; we restore both
    afterwards so that generating the data leaves no trace on anyone else's random state.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    arrays = (
        d["x"].astype(np.float32), d["y"].astype(np.int64),
        d["x_test"].astype(np.float32), d["y_test"].astype(np.int64),
    )
    _freeze(*arrays)
    return arrays


def _load_mnist1d(
    data_dir: str | None, download: bool, num_samples: int = 5000, seed: int = 42
) -> RawDataset:
    """MNIST-1D (Greydanus 2020): 4000 train / 1000 test sequences of length 40 by default.

    Generation takes a few seconds; it is cached in-process and, when ``data_dir`` is given,
    on disk as ``<data_dir>/mnist1d/mnist1d_n<num_samples>_seed<seed>.npz``.
    """
    arrays: tuple[np.ndarray, ...] | None = None
    path = None
    if data_dir is not None:
        path = os.path.join(data_dir, "mnist1d", f"mnist1d_n{num_samples}_seed{seed}.npz")
        if os.path.isfile(path):
            with np.load(path) as f:
                arrays = (f["x"], f["y"], f["x_test"], f["y_test"])
    if arrays is None:
        arrays = _mnist1d_arrays(num_samples, seed)
        if path is not None:
            _atomic_savez(path, x=arrays[0], y=arrays[1], x_test=arrays[2], y_test=arrays[3])
    x, y, xt, yt = arrays
    return RawDataset(
        x[:, None, :], y, xt[:, None, :], yt, norm="channel",
        info={"test_split": f"official mnist1d split (train_split 0.8 of {num_samples})",
              "generator": f"mnist1d.data.make_dataset, seed {seed}"},
    )


def _atomic_savez(path: str, **arrays: np.ndarray) -> None:
    """Write an .npz so that concurrent trials never read a half-written file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


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


# --------------------------------------------------------------------------------------
# Loaders: torchvision datasets read from data_dir
# --------------------------------------------------------------------------------------

# name -> (torchvision class name, files relative to data_dir, where to get them)
_TV_FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "cifar10": (
        tuple(f"cifar-10-batches-py/{f}" for f in
              ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
               "test_batch", "batches.meta"]),
        "download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and extract it in "
        "{root} (it creates cifar-10-batches-py/)",
    ),
    "cifar100": (
        ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
        "download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and extract it in "
        "{root} (it creates cifar-100-python/)",
    ),
    "svhn": (
        ("train_32x32.mat", "test_32x32.mat"),
        "download http://ufldl.stanford.edu/housenumbers/train_32x32.mat and "
        "http://ufldl.stanford.edu/housenumbers/test_32x32.mat into {root}",
    ),
    "mnist": (
        tuple(f"MNIST/raw/{f}" for f in
              ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        "download the four MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz from "
        "https://ossci-datasets.s3.amazonaws.com/mnist/) and gunzip them into {root}/MNIST/raw/",
    ),
    "fashion-mnist": (
        tuple(f"FashionMNIST/raw/{f}" for f in
              ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        "download the four Fashion-MNIST files (train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz from "
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/) and gunzip them into "
        "{root}/FashionMNIST/raw/",
    ),
}


def _check_files(name: str, data_dir: str | None, download: bool) -> str:
    """Absolute root for a torchvision dataset, or one DataError naming what is missing."""
    files, how = _TV_FILES[name]
    if data_dir is None:
        raise DataError(
            f"dataset {name!r} is read from files: pass data_dir (an absolute path; Ray changes "
            f"the working directory of trials) and either put the files there ({how.format(root='data_dir')}) "
            f"or pass download=True."
        )
    root = os.path.abspath(os.path.expanduser(str(data_dir)))
    missing = [f for f in files if not os.path.isfile(os.path.join(root, f))]
    if missing and not download:
        raise DataError(
            f"dataset {name!r} not found under data_dir={root}: missing "
            f"{', '.join(missing)}. To fix: {how.format(root=root)}; or pass download=True "
            f"to let torchvision fetch it."
        )
    return root


def _torchvision_dataset(name: str, root: str, train: bool, download: bool) -> Any:
    """Instantiate the torchvision dataset class; its errors become DataError."""
    from torchvision import datasets as tvd

    try:
        if name == "cifar10":
            return tvd.CIFAR10(root, train=train, download=download)
        if name == "cifar100":
            return tvd.CIFAR100(root, train=train, download=download)
        if name == "svhn":
            return tvd.SVHN(root, split="train" if train else "test", download=download)
        if name == "mnist":
            return tvd.MNIST(root, train=train, download=download)
        if name == "fashion-mnist":
            return tvd.FashionMNIST(root, train=train, download=download)
    except (RuntimeError, OSError) as e:
        raise DataError(
            f"torchvision could not load {name!r} from {root}: {e}. If the files exist they are "
            f"probably truncated or corrupted (torchvision checks their md5): "
            f"{_TV_FILES[name][1].format(root=root)}."
        ) from e
    raise AssertionError(name)


def _tv_arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (n, C, H, W), int64 labels (n,)) from a torchvision dataset object."""
    data, labels = ds.data, getattr(ds, "targets", None)
    if labels is None:
        labels = ds.labels  # SVHN (already mapped 10 -> 0 by torchvision)
    data = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    labels = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if data.ndim == 3:  # MNIST-style (n, H, W)
        data = data[:, None]
    elif data.shape[-1] == 3:  # CIFAR keeps HWC
        data = data.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(data, dtype=np.uint8), labels.astype(np.int64)


@functools.lru_cache(maxsize=2)
def _load_torchvision_cached(name: str, root: str) -> RawDataset:
    x, y = _tv_arrays(_torchvision_dataset(name, root, train=True, download=False))
    xt, yt = _tv_arrays(_torchvision_dataset(name, root, train=False, download=False))
    raw = RawDataset(
        x, y, xt, yt, norm="channel",
        info={"test_split": "official test split", "data_dir": root},
    )
    _freeze(raw.x_pool, raw.y_pool, raw.x_test, raw.y_test)
    return raw


def _torchvision_loader(name: str) -> Callable[..., RawDataset]:
    def load(data_dir: str | None, download: bool) -> RawDataset:
        root = _check_files(name, data_dir, download)
        if download:
            # torchvision skips files that already pass its md5 check.
            _torchvision_dataset(name, root, train=True, download=True)
            _torchvision_dataset(name, root, train=False, download=True)
        return _load_torchvision_cached(name, root)

    load.__name__ = f"load_{name}"
    return load


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------

DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in [
        DatasetSpec("digits", "classification", 10, (1, 8, 8), _load_digits,
                    description="sklearn digits, 8x8 grey images; fixed 30% test split",
                    pool_size=1258),
        DatasetSpec("diabetes", "regression", 0, (10,), _load_diabetes,
                    description="sklearn diabetes, 10 features; fixed 30% test split",
                    pool_size=309),
        DatasetSpec("mnist1d", "classification", 10, (1, 40), _load_mnist1d,
                    description="MNIST-1D generated locally (mnist1d.make_dataset)",
                    pool_size=4000),
        DatasetSpec("synthetic-regression", "regression", 0, (50,), _load_synthetic_regression,
                    description="seeded linear-Gaussian regression", pool_size=500),
        DatasetSpec("synthetic-classification", "classification", 4, (20,),
                    _load_synthetic_classification,
                    description="seeded sklearn make_classification", pool_size=1000),
        DatasetSpec("cifar10", "classification", 10, (3, 32, 32), _torchvision_loader("cifar10"),
                    needs_data_dir=True, description="CIFAR-10 via torchvision",
                    pool_size=50000),
        DatasetSpec("cifar100", "classification", 100, (3, 32, 32),
                    _torchvision_loader("cifar100"), needs_data_dir=True,
                    description="CIFAR-100 (fine labels) via torchvision", pool_size=50000),
        DatasetSpec("svhn", "classification", 10, (3, 32, 32), _torchvision_loader("svhn"),
                    needs_data_dir=True, description="SVHN train/test (no extra) via torchvision",
                    pool_size=73257),
        DatasetSpec("mnist", "classification", 10, (1, 28, 28), _torchvision_loader("mnist"),
                    needs_data_dir=True, description="MNIST via torchvision", pool_size=60000),
        DatasetSpec("fashion-mnist", "classification", 10, (1, 28, 28),
                    _torchvision_loader("fashion-mnist"), needs_data_dir=True,
                    description="Fashion-MNIST via torchvision", pool_size=60000),
    ]
}


def dataset_names() -> list[str]:
    """Known dataset names, sorted."""
    return sorted(DATASETS)


# --------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------


def _holdout(
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


def _kfold(y: np.ndarray, n_folds: int, stratified: bool, rng: np.random.Generator) -> np.ndarray:
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


def _hash_indices(idx: np.ndarray | None) -> str | None:
    if idx is None:
        return None
    return hashlib.sha256(np.ascontiguousarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]


def _to_float(x: np.ndarray) -> np.ndarray:
    """Images stored as uint8 become float32 in [0, 1]; anything else float32."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32, copy=False)


def _norm_stats(x: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
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


def _validate(
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


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of dataset ``name``; a DataError lists the known names otherwise."""
    spec = DATASETS.get(name)
    if spec is None:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())}")
    return spec


def check_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    n_train: int | None = None,
    reg_fraction: float = 0.1,
    n_folds: int = 1,
    fold: int | None = None,
    files: bool = True,
) -> DatasetSpec:
    """What ``load_splits`` would refuse, found without loading the data (a driver's check).

    The same `_validate` as ``load_splits`` with the pool size the registry declares, and,
    with ``files=True``, the presence of a file-based dataset's files under ``data_dir``
    (``files=False`` on a driver whose node does not hold the data, e.g. a cluster head).
    """
    spec = dataset_spec(name)
    if spec.pool_size is not None:
        _validate(spec, spec.pool_size, n_train, reg_fraction, n_folds, fold)
    if files and name in _TV_FILES:
        data_dir_s = None if data_dir is None else str(data_dir)
        _check_files(name, data_dir_s, download)
    return spec


def load_splits(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    n_train: int | None = None,
    reg_fraction: float = 0.1,
    split_seed: int = 0,
    n_folds: int = 1,
    fold: int | None = None,
    device: str | torch.device = "cpu",
    flatten: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Splits:
    """Load dataset ``name`` as train / reg / test tensors on ``device`` (see module doc).

    ``options`` overrides the dataset loader's own keyword arguments (e.g. ``{"n_pool": 200,
    "noise": 0.5}`` for ``synthetic-regression``); unknown option names raise DataError.
    """
    spec = dataset_spec(name)
    options = dict(options or {})
    unknown = sorted(set(options) - set(spec.option_names()))
    if unknown:
        raise DataError(
            f"unknown option(s) {unknown} for dataset {name!r}; "
            f"known: {list(spec.option_names()) or 'none'}")
    data_dir_s = None if data_dir is None else os.path.abspath(os.path.expanduser(str(data_dir)))
    raw = spec.load(data_dir_s, bool(download), **options)
    classification = spec.task == "classification"

    n_pool_all = len(raw.y_pool)
    _validate(spec, n_pool_all, n_train, reg_fraction, n_folds, fold)
    rng = np.random.default_rng(split_seed)

    # 1. subsample the pool (stratified for classification)
    if n_train is None or n_train == n_pool_all:
        pool = np.arange(n_pool_all)
    else:
        _, pool = _holdout(n_pool_all, raw.y_pool if classification else None, int(n_train), rng)
    y_pool = raw.y_pool[pool]

    # 2. train / reg inside the pool (positions relative to ``pool``)
    if fold == -1:
        train_pos, reg_pos = np.arange(len(pool)), None
    elif n_folds == 1:
        n_reg = _round_half_up(float(reg_fraction) * len(pool))
        if not 1 <= n_reg < len(pool):
            raise DataError(
                f"reg_fraction={reg_fraction} of a pool of {len(pool)} leaves an empty split")
        train_pos, reg_pos = _holdout(len(pool), y_pool if classification else None, n_reg, rng)
    else:
        fold_of = _kfold(y_pool, n_folds, classification, rng)
        train_pos, reg_pos = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
    train_idx = pool[train_pos]
    reg_idx = None if reg_pos is None else pool[reg_pos]

    # 3. normalise with train statistics only
    x_train = _to_float(raw.x_pool[train_idx])
    mean, std = _norm_stats(x_train, raw.norm)

    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)

    def features(x: np.ndarray) -> torch.Tensor:
        z = _to_float(x)
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

    train = Split(features(x_train), targets(raw.y_pool[train_idx]))
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
        "dataset": name,
        "options": options,
        "task": spec.task,
        "split_seed": int(split_seed),
        "n_train_requested": None if n_train is None else int(n_train),
        "reg_fraction": float(reg_fraction),
        "n_folds": int(n_folds),
        "fold": None if fold is None else int(fold),
        "refit": fold == -1,
        "n_pool_available": n_pool_all,
        "n_pool": int(len(pool)),
        "n_train": len(train),
        "n_reg": 0 if reg is None else len(reg),
        "n_test": len(test),
        "pool_hash": _hash_indices(pool),
        "train_hash": _hash_indices(train_idx),
        "reg_hash": _hash_indices(reg_idx),
        "normalisation": norm_info,
        "flatten": bool(flatten),
        **raw.info,
    }
    return Splits(
        train=train, reg=reg, test=test, task=spec.task,
        n_classes=int(raw.info.get("n_classes", spec.n_classes)) if classification else 0,
        input_shape=input_shape, info=info,
    )
