"""`load_results`: every run under a path (or several) as one tidy frame; the package's
docstring says what it guarantees, its modules do the parts."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..contract import FWD_COLUMNS, LABEL_COLUMNS, METRIC_COLUMNS, OPTIONAL_COST_COLUMNS, OPTIONAL_METRIC_COLUMNS
from . import listing
from .assemble import FLAG_COLUMNS, assemble
from .collect import Run, TrialFile, collect_run
from .errors import ResultsWarning
from .listing import PathLike, run_sources


def load_results(path_or_paths: PathLike | Sequence[PathLike]) -> pd.DataFrame:
    """Read one or many experiment directories into one tidy DataFrame.

    ``path_or_paths``: a local path, a ``file://`` / ``s3://`` / ``gs://`` URI (read
    through ``pyarrow.fs.FileSystem.from_uri``, so nothing is copied first), or a
    list of them. A directory that is not itself a run but holds runs is read as
    all of them: a suite directory (one run directory per task side by side, a
    ``suite.json`` beside them) loads every task, each row labelled with its ``task``.

    Returns one row per (run, experiment, strategy, seed, trial_id, iteration)
    with: categoricals for labels (``run`` = the run folder's name, ``experiment``
    = the rows' label, else metadata.json's, else the folder's; ``task`` = the
    ``experiment`` again, the label statistics across a suite's tasks group by
    (:func:`analysis.across_tasks`); ``dataset`` = the
    rows', else the trial config's, else metadata.json's, else ``"unknown"``), int64 ``seed``,
    ``iteration`` (Ray's ``training_iteration``; else ``epoch``; else line
    number), ``epoch`` and forward-pass deltas ``fwd_*``; float64 metrics and
    ``rho/*``; float64 optional columns (``flops_*``, ``device_seconds``, the noise-off
    ``test_*_det`` and ``observe_seconds``: NaN where a run did not record them);
    booleans ``final_trial`` (every row of the trial each strategy and seed
    returns as its model, rule in :func:`analysis.contract.final_trial`),
    ``final_epoch`` (that trial's last epoch row: one per strategy and seed),
    ``diverged`` (the row's own flag, or a NaN/inf train_loss or test_loss on a trial
    that reports them) and ``placeholder`` (the one row of a trial that reported
    nothing, so its strategy stays visible); ``status`` of the run from metadata.json
    (``running``/``finished``/``interrupted``, else ``unknown``), also in
    ``df.attrs["status"]`` as ``{run: status}``; ``completion`` of the (strategy,
    seed) from metadata.json's ``completed`` (``finished``/``errored``/``incomplete``;
    missing in runs that predate it) and ``driver_seconds``, the seconds the driver
    spent on that (strategy, seed) over every resume (NaN where not recorded): both
    the same on every row of the (strategy, seed).
    ``df.attrs["metadata"]`` holds each run's metadata.json and
    ``df.attrs["warnings"]`` the warning messages issued, ``df.attrs["sources"]`` where each run
    lives (``{run: (path given, run root)}``: :func:`load_predictions` reads beside the trials). Ray's bookkeeping keys
    (``config``, ``date``, ``hostname``, ``pid`` ...) are dropped, except
    ``trial_id``, ``time_total_s``, ``time_this_iter_s``, ``timestamp``, ``done``.
    Rows keep file order within a trial.

    Problems in the files are reported with :class:`ResultsWarning`, never raised.
    Raised: ``FileNotFoundError`` for a path that does not exist, and
    :class:`ResultsError` (a ValueError) for one that holds no run at all (no
    metadata.json and no result.json anywhere below it). A run with no rows yet
    loads as an empty frame with its attrs.
    """
    paths = [path_or_paths] if isinstance(path_or_paths, (str, os.PathLike)) else list(path_or_paths)
    if not paths:
        raise ValueError("load_results needs at least one path")
    warn: list[str] = []
    runs: list[Run] = []
    metadata: dict[str, dict[str, Any]] = {}
    trials: list[TrialFile] = []
    placeholders: list[dict[str, Any]] = []
    sources: dict[str, tuple[str, str]] = {}
    for p in paths:
        fs, root, _ = listing.resolve(p)
        for run_root, files in listing.find_runs(fs, root, os.fspath(p)):
            name = run_root.rstrip("/").rsplit("/", 1)[-1]
            sources.setdefault(name, run_sources(p, run_root))
            if any(r.name == name for r in runs):
                warn.append(f"run name {name!r} loaded twice; its rows are merged")
            collect_run(fs, run_root, files, warn, runs, metadata, trials, placeholders)
    if not trials and not placeholders:
        warn.append(f"no result.json found under {', '.join(map(str, paths))}")
        df = _empty_frame()
    else:
        df = assemble(trials, runs, placeholders, warn)
    for w in warn:
        warnings.warn(w, ResultsWarning, stacklevel=2)
    df.attrs["status"] = {r.name: r.status for r in runs}
    df.attrs["metadata"] = metadata
    df.attrs["warnings"] = warn
    df.attrs["sources"] = sources
    return df


def _empty_frame() -> pd.DataFrame:
    cols: dict[str, Any] = {c: pd.Series(dtype="category") for c in [*LABEL_COLUMNS, "completion"]}
    cols.update({c: pd.Series(dtype="int64") for c in ["seed", "iteration", "epoch", *FWD_COLUMNS]})
    cols.update({c: pd.Series(dtype="float64")
                 for c in [*METRIC_COLUMNS, *OPTIONAL_COST_COLUMNS, *OPTIONAL_METRIC_COLUMNS, "driver_seconds"]})
    cols.update({c: pd.Series(dtype=bool) for c in FLAG_COLUMNS})
    return pd.DataFrame(cols)


__all__ = ["load_results"]
