"""Dataset arrays kept on disk between processes.

Under Ray every trial is a process of its own, so whatever a dataset costs to make is paid
once per trial: MNIST-1D's generation takes seconds, and sklearn's bundled sets cost an import
of scikit-learn (~0.5 s of a ~4 s trial-process start on a 2-core machine). Made once, saved as
an ``.npz`` and read back in milliseconds, they cost that once per machine.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping

import numpy as np

from .spec import freeze


def cache_dir() -> str:
    """Where made data is kept between processes when a config names no ``data_dir``:
    ``$CROSSREG_CACHE``, else ``~/.cache/crossreg-harness``."""
    return os.environ.get("CROSSREG_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                            "crossreg-harness")


def cached_arrays(path: str, make: Callable[[], Mapping[str, np.ndarray]], *,
                  must_write: bool = False) -> dict[str, np.ndarray]:
    """The arrays saved at ``path`` (an ``.npz``), else ``make()``'s, saved there; read-only
    either way. The file name must say everything the arrays depend on (sizes, seeds,
    versions): a file found is trusted. A damaged file is made again. A cache that cannot be
    written is skipped, not an error, unless ``must_write`` (a directory the user named)."""
    arrays: dict[str, np.ndarray] | None = None
    if os.path.isfile(path):
        try:
            with np.load(path) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # damaged: make it again
            arrays = None
    if arrays is None:
        arrays = dict(make())
        try:
            _atomic_savez(path, arrays)
        except OSError:
            if must_write:
                raise
    freeze(*arrays.values())
    return arrays


def _atomic_savez(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write the .npz so that concurrent trials never read a half-written file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
