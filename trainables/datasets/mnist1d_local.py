"""``mnist1d`` (Greydanus 2020), generated locally with the package's own recipe: 4000 pool /
1000 official test sequences of length 40 by default."""

from __future__ import annotations

import functools
import os
import random
import tempfile

import numpy as np

from .spec import DatasetSpec, RawDataset, freeze


@functools.lru_cache(maxsize=8)
def mnist1d_arrays(num_samples: int, seed: int) -> tuple[np.ndarray, ...]:
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
    freeze(*arrays)
    return arrays


def cache_dir() -> str:
    """Where generated data is kept between processes when a config names no ``data_dir``:
    ``$CROSSREG_CACHE``, else ``~/.cache/crossreg-harness``."""
    return os.environ.get("CROSSREG_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                            "crossreg-harness")


def _load_mnist1d(
    data_dir: str | None, download: bool, num_samples: int = 5000, seed: int = 42
) -> RawDataset:
    """MNIST-1D (Greydanus 2020): 4000 train / 1000 test sequences of length 40 by default.

    Generation takes seconds, and every trial is a process of its own under Ray, so the
    arrays are cached in-process and on disk as
    ``<data_dir or cache_dir()>/mnist1d/mnist1d_n<num_samples>_seed<seed>.npz`` (the same
    arrays: generation is seeded). A cache that cannot be written is skipped, not an error.
    """
    arrays: tuple[np.ndarray, ...] | None = None
    path = os.path.join(data_dir or cache_dir(), "mnist1d", f"mnist1d_n{num_samples}_seed{seed}.npz")
    if os.path.isfile(path):
        try:
            with np.load(path) as f:
                arrays = (f["x"], f["y"], f["x_test"], f["y_test"])
        except (OSError, ValueError, KeyError):  # a damaged cache: generate again
            arrays = None
        if arrays is not None:
            freeze(*arrays)
    if arrays is None:
        arrays = mnist1d_arrays(num_samples, seed)
        try:
            _atomic_savez(path, *arrays)
        except OSError:
            if data_dir is not None:  # the user's own directory must be writable
                raise
    x, y, xt, yt = arrays
    return RawDataset(
        x[:, None, :], y, xt[:, None, :], yt, norm="channel",
        info={"test_split": f"official mnist1d split (train_split 0.8 of {num_samples})",
              "generator": f"mnist1d.data.make_dataset, seed {seed}"},
    )


def _atomic_savez(path: str, x: np.ndarray, y: np.ndarray, x_test: np.ndarray,
                  y_test: np.ndarray) -> None:
    """Write the .npz so that concurrent trials never read a half-written file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, x=x, y=y, x_test=x_test, y_test=y_test)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


DATASETS = (
    DatasetSpec("mnist1d", "classification", 10, (1, 40), _load_mnist1d,
                description="MNIST-1D generated locally (mnist1d.make_dataset)", pool_size=4000),
)
