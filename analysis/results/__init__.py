"""Load experiment directories into one tidy DataFrame.

The layout is pinned in docs/contract.md::

    <run>/metadata.json
    <run>/<strategy>-seed<k>/<trial dir>/result.json   (JSON lines written by Ray Tune)

``load_results`` returns one row per (experiment, strategy, seed, trial, iteration).
It must work on whatever a user has in hand, so it reads through pyarrow's
filesystems (a local path, ``file://``, ``s3://``, ``gs://`` ...), never imports
Ray, and treats damaged inputs as data to report rather than reasons to stop:
a missing column, an empty ``result.json``, NaN metrics of a diverged trial, a
half-written last line (a run that is still going or was killed) all load with
a :class:`ResultsWarning` that names the trial. A strategy is never dropped
silently: a trial with no rows keeps one placeholder row (``placeholder=True``).

The jobs, one module each: :mod:`.listing` finds runs and files, :mod:`.collect`
reads them (metadata.json parsed, result.json as bytes), :mod:`.parse` parses the
rows (fast pyarrow path, slow per-line fallback), :mod:`.assemble` labels, types
and checks them, :mod:`.flags` marks the final model by the contract's rule.
"""

from __future__ import annotations

from .collect import read_metadata
from .errors import ResultsError, ResultsWarning
from .load import load_results
from .predictions import PREDICTION_COLUMNS, load_predictions

__all__ = ["PREDICTION_COLUMNS", "ResultsError", "ResultsWarning", "load_predictions", "load_results",
           "read_metadata"]
