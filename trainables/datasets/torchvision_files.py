"""The torchvision datasets (``cifar10``, ``cifar100``, ``svhn``, ``mnist``, ``fashion-mnist``),
read from the files torchvision itself expects under ``data_dir``, with their official test
splits. They download only when ``download=True``; missing files raise one ``DataError`` saying
what to fetch and where.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .spec import DataError, DatasetSpec, RawDataset, freeze

# name -> (files relative to data_dir, how to get them)
_TV_FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "cifar10": (
        tuple(f"cifar-10-batches-py/{f}" for f in
              ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
               "test_batch", "batches.meta"]),
        ("download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and extract it in "
         "{root} (it creates cifar-10-batches-py/)"),
    ),
    "cifar100": (
        ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
        ("download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and extract it in "
         "{root} (it creates cifar-100-python/)"),
    ),
    "svhn": (
        ("train_32x32.mat", "test_32x32.mat"),
        ("download http://ufldl.stanford.edu/housenumbers/train_32x32.mat and "
         "http://ufldl.stanford.edu/housenumbers/test_32x32.mat into {root}"),
    ),
    "mnist": (
        tuple(f"MNIST/raw/{f}" for f in
              ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        ("download the four MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
         "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz from "
         "https://ossci-datasets.s3.amazonaws.com/mnist/) and gunzip them into {root}/MNIST/raw/"),
    ),
    "fashion-mnist": (
        tuple(f"FashionMNIST/raw/{f}" for f in
              ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        ("download the four Fashion-MNIST files (train-images-idx3-ubyte.gz, "
         "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz from "
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/) and gunzip them into "
         "{root}/FashionMNIST/raw/"),
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
    freeze(raw.x_pool, raw.y_pool, raw.x_test, raw.y_test)
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


def _spec(name: str, n_classes: int, shape: tuple[int, ...], description: str,
          pool_size: int) -> DatasetSpec:
    return DatasetSpec(name, "classification", n_classes, shape, _torchvision_loader(name),
                       needs_data_dir=True, description=description, pool_size=pool_size,
                       check_files=functools.partial(_check_files, name))


DATASETS = (
    _spec("cifar10", 10, (3, 32, 32), "CIFAR-10 via torchvision", 50000),
    _spec("cifar100", 100, (3, 32, 32), "CIFAR-100 (fine labels) via torchvision", 50000),
    _spec("svhn", 10, (3, 32, 32), "SVHN train/test (no extra) via torchvision", 73257),
    _spec("mnist", 10, (1, 28, 28), "MNIST via torchvision", 60000),
    _spec("fashion-mnist", 10, (1, 28, 28), "Fashion-MNIST via torchvision", 60000),
)
