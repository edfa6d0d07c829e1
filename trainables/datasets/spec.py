"""What a dataset is before and after splitting: `RawDataset`, `Split`, `Splits`, and the
registry entry `DatasetSpec` that a source file declares."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch


class DataError(ValueError):
    """A dataset cannot be loaded or split as asked (unknown name, missing files, bad sizes)."""


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
    #: ``check_files(data_dir, download)`` raises a DataError naming what is missing, for a
    #: dataset read from files (a driver's check, without reading them); None: nothing to check
    check_files: Callable[[str | None, bool], object] | None = None

    def option_names(self) -> tuple[str, ...]:
        """The loader's own keyword arguments (``load_splits(..., options=...)``)."""
        params = inspect.signature(self.load).parameters
        return tuple(p for p in params if p not in ("data_dir", "download"))


def freeze(*arrays: np.ndarray) -> None:
    """Cached arrays are shared between calls: make accidental in-place edits fail loudly."""
    for a in arrays:
        a.flags.writeable = False

