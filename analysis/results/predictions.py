"""The final models' per-example test predictions (``predictions.npz`` beside a trial's result.json).

They let a comparison count the test split's own noise: every seed scores on the same test
rows, so an accuracy over 1,000 rows carries a standard error of ~1.5 pp that resampling seeds
alone never sees. Only the final model of each (strategy, seed) is read (the loader's
``final_epoch`` rows, the contract's final-model rule): a prediction file of any other trial
chose nothing and is no result.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..contract import PREDICTION_ARRAYS, PREDICTIONS_FILE, strategy_seed_key
from . import listing
from .listing import PathLike

#: Columns of :func:`load_predictions`' frame, in order.
PREDICTION_COLUMNS = ("run", "experiment", "dataset", "strategy", "seed", "trial_id", *PREDICTION_ARRAYS)


def _read(source: str, path: str) -> dict[str, np.ndarray] | None:
    fs, _, _ = listing.resolve(source)
    try:
        blob = listing.read_bytes(fs, path)
    except (FileNotFoundError, OSError):
        return None
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    except (ValueError, OSError):
        return None


def load_predictions(path_or_df: PathLike | Sequence[PathLike] | pd.DataFrame) -> pd.DataFrame:
    """One row per (run, strategy, seed, test row) of the final models' test predictions.

    ``path_or_df``: what :func:`analysis.load_results` takes, or the frame it returned (its
    ``attrs["sources"]`` say where each run lives). Reads ``<run>/<strategy>-seed<k>/<trial
    dir>/predictions.npz`` of each (strategy, seed)'s final trial and returns columns
    :data:`PREDICTION_COLUMNS` (``index``: the test row; ``label``; ``pred``: the predicted
    class; ``confidence``: the top-class probability; ``p_true``: the probability of the true
    class; the last two NaN for regression or where absent). ``attrs["missing"]`` lists the
    ``<run>/<strategy>-seed<k>`` final models that have no readable file (runs written before
    the trainables saved predictions); an empty frame when none has one.
    """
    if isinstance(path_or_df, pd.DataFrame):
        df = path_or_df
    else:
        import warnings

        from .load import load_results
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = load_results(path_or_df)
    sources: dict[str, tuple[str, str]] = dict(df.attrs.get("sources") or {})
    parts: list[pd.DataFrame] = []
    missing: list[str] = []
    if len(df) and "final_epoch" in df:
        fin = df[df["final_epoch"].to_numpy(dtype=bool)]
        for r in fin[["run", "experiment", "dataset", "strategy", "seed", "trial_id", "trial_dir"]].itertuples(
                index=False):
            run, strategy, seed = str(r.run), str(r.strategy), int(r.seed)
            name = f"{run}/{strategy_seed_key(strategy, seed)}"
            if run not in sources:
                missing.append(name)
                continue
            source, root = sources[run]
            arrays = _read(source, posixpath.join(root, strategy_seed_key(strategy, seed), str(r.trial_dir),
                                                  PREDICTIONS_FILE))
            if arrays is None or not {"index", "label", "pred"} <= set(arrays):
                missing.append(name)
                continue
            n = len(arrays["index"])
            cols: dict[str, Any] = {"run": run, "experiment": str(r.experiment), "dataset": str(r.dataset),
                                    "strategy": strategy, "seed": seed, "trial_id": str(r.trial_id)}
            for a in PREDICTION_ARRAYS:
                cols[a] = arrays[a] if a in arrays else np.full(n, np.nan)
            parts.append(pd.DataFrame(cols))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({c: [] for c in PREDICTION_COLUMNS})
    out.attrs["missing"] = missing
    return out


__all__ = ["PREDICTION_COLUMNS", "load_predictions"]
