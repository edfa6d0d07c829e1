"""A user's own dataset named by reference: ``dataset = "pkg.module:load"``.

``load()`` returns ``(x_train, y_train, x_test, y_test)`` as numpy arrays or torch tensors:
``x_train`` is the training pool (the trial splits it into train and reg as for any
dataset) and ``x_test`` the fixed test split. Integer labels make a classification task with
``n_classes = max label + 1``; float targets a regression task. Per-sample shapes of two or
more axes ((C, L), (C, H, W)) are standardised per channel (axis 1), flat rows per feature.
Every problem is one DataError naming the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..registry import resolve
from .spec import DataError, DatasetSpec, RawDataset


def _array(value: Any, what: str, reference: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise DataError(f"{reference}() must return numpy arrays or torch tensors; {what} is a "
                        f"{type(value).__name__}")
    return value


def _task(y_train: np.ndarray, y_test: np.ndarray, reference: str) -> str:
    kinds = {y_train.dtype.kind, y_test.dtype.kind}
    if kinds <= {"i", "u"}:
        return "classification"
    if kinds == {"f"}:
        return "regression"
    raise DataError(f"{reference}(): y_train and y_test must both be integer labels "
                    f"(classification) or both floats (regression), got dtypes "
                    f"{y_train.dtype} and {y_test.dtype}")


def load_reference(reference: str) -> RawDataset:
    """Call the user's ``load()`` and check what it returned."""
    load = resolve(reference, DataError)
    if not callable(load):
        raise DataError(f"{reference!r} is a {type(load).__name__}, not a function load()")
    try:
        returned = load()
    except Exception as exc:  # the user's code: one line naming the call, cause chained
        raise DataError(f"{reference}() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(returned, (tuple, list)) or len(returned) != 4:
        raise DataError(f"{reference}() must return (x_train, y_train, x_test, y_test), got "
                        f"{type(returned).__name__}"
                        + (f" of length {len(returned)}" if isinstance(returned, (tuple, list)) else ""))
    names = ("x_train", "y_train", "x_test", "y_test")
    x, y, xt, yt = (_array(v, n, reference) for v, n in zip(returned, names))
    if x.ndim < 2 or xt.ndim != x.ndim or x.shape[1:] != xt.shape[1:]:
        raise DataError(f"{reference}(): x_train and x_test must be shaped (n, *sample_shape) "
                        f"with the same sample shape, got {x.shape} and {xt.shape}")
    for xs, ys, which in ((x, y, "train"), (xt, yt, "test")):
        if ys.ndim != 1 or len(ys) != len(xs):
            raise DataError(f"{reference}(): y_{which} must be 1-D with one entry per row of "
                            f"x_{which} ({len(xs)}), got shape {ys.shape}")
        if xs.dtype.kind not in "iuf" or not np.isfinite(xs).all():
            raise DataError(f"{reference}(): x_{which} must hold finite numbers")
    if len(x) < 2 or len(xt) < 1:
        raise DataError(f"{reference}(): needs at least 2 training rows and 1 test row")
    task = _task(y, yt, reference)
    if task == "classification" and min(y.min(), yt.min()) < 0:
        raise DataError(f"{reference}(): class labels must be >= 0")
    if task == "regression" and not (np.isfinite(y).all() and np.isfinite(yt).all()):
        raise DataError(f"{reference}(): regression targets must be finite")
    info: dict[str, Any] = {"source": reference}
    if task == "classification":
        info["n_classes"] = int(max(y.max(), yt.max())) + 1
        y, yt = y.astype(np.int64), yt.astype(np.int64)
    else:
        y, yt = y.astype(np.float32), yt.astype(np.float32)
    # the user's arrays are never edited: splitting copies before normalising in place
    return RawDataset(x, y, xt, yt, norm="channel" if x.ndim >= 3 else "feature", info=info)


def reference_spec(reference: str) -> DatasetSpec:
    """The spec of a user's dataset: it loads the data once (its sizes and task are known only
    then) and hands that same load to the trial."""
    raw = load_reference(reference)
    classification = "n_classes" in raw.info

    def load(data_dir: str | None, download: bool) -> RawDataset:
        return raw

    return DatasetSpec(
        reference, "classification" if classification else "regression",
        int(raw.info["n_classes"]) if classification else 0, tuple(int(s) for s in raw.x_pool.shape[1:]),
        load, description=f"user dataset {reference}", pool_size=len(raw.y_pool))
