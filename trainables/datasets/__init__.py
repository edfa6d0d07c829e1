"""Datasets as seeded, recorded train / regularization / test splits of in-memory tensors.

Each source file in this package declares the datasets it loads (``DATASETS = (DatasetSpec(...),
...)``) and is found by scanning the package, so a new dataset is one new file. A config may
instead name a user's own dataset by reference, ``dataset = "pkg.module:load"``
(`trainables.datasets.reference`). How a loaded dataset is split, normalised and recorded is
in `trainables.datasets.splitting`.

A source file declares, e.g. (``synthetic.py`` is a complete example)::

    def _load(data_dir, download, n_pool=500):  # keyword options: load_splits(options=...)
        return RawDataset(x_pool, y_pool, x_test, y_test, norm="feature")

    DATASETS = (DatasetSpec("mine", "regression", 0, (20,), _load, pool_size=500),)

``pool_size`` must be what the loader returns with its defaults (a test checks it): drivers
check ``n_train`` against it without loading the data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from ..registry import is_reference, scan
from .reference import reference_spec
from .spec import DataError, DatasetSpec, RawDataset, Split, Splits
from .splitting import check_label_noise, split, validate

#: every registered dataset by name (a test may add one with ``monkeypatch.setitem``)
DATASETS: dict[str, DatasetSpec] = scan(__name__, "DATASETS", DatasetSpec)


def dataset_names() -> list[str]:
    """Known dataset names, sorted."""
    return sorted(DATASETS)


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of dataset ``name``, or the spec of a ``"pkg.module:load"``
    reference (which loads it); a DataError says what is wrong otherwise."""
    if is_reference(name):
        return reference_spec(name)
    spec = DATASETS.get(name)
    if spec is None:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())}; "
                        "or a reference 'pkg.module:load'")
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
    label_noise: float = 0.0,
) -> DatasetSpec:
    """What ``load_splits`` would refuse, found without loading a registered dataset (a
    driver's check; a referenced one is loaded, since only then is its size known).

    The same `validate` as ``load_splits`` with the pool size the spec declares, and, with
    ``files=True``, the presence of a file-based dataset's files under ``data_dir``
    (``files=False`` on a driver whose node does not hold the data, e.g. a cluster head).
    """
    spec = dataset_spec(name)
    check_label_noise(spec, label_noise)
    if spec.pool_size is not None:
        validate(spec, spec.pool_size, n_train, reg_fraction, n_folds, fold)
    if files and spec.check_files is not None:
        spec.check_files(None if data_dir is None else str(data_dir), download)
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
    label_noise: float = 0.0,
) -> Splits:
    """Load dataset ``name`` as train / reg / test tensors on ``device`` (rules in
    `trainables.datasets.splitting`).

    ``options`` overrides the dataset loader's own keyword arguments (e.g. ``{"n_pool": 200,
    "noise": 0.5}`` for ``synthetic-regression``); unknown option names raise DataError.
    ``label_noise``: the fraction of the pool's labels that ``train`` sees replaced
    (`trainables.datasets.splitting.noisy_labels`); ``reg`` and ``test`` keep the true ones.
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
    return split(spec, raw, n_train=n_train, reg_fraction=reg_fraction, split_seed=split_seed,
                 n_folds=n_folds, fold=fold, device=device, flatten=flatten, options=options,
                 label_noise=label_noise)


__all__ = ["DATASETS", "DataError", "DatasetSpec", "RawDataset", "Split", "Splits",
           "check_dataset", "dataset_names", "dataset_spec", "load_splits"]
