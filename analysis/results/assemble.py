"""From parsed rows to the tidy frame: labels of trial and run, dtypes, column checks, flags.

Damaged inputs are data to report, not reasons to stop: every oddity becomes one message in
``warn`` (the loader turns them into :class:`ResultsWarning`) that names the trials concerned.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ..contract import (
    DIVERGENCE_COLUMNS,
    FWD_COLUMNS,
    KEY_COLUMNS,
    LABEL_COLUMNS,
    METRIC_COLUMNS,
    OBSERVED_COLUMN,
    OPTIONAL_COST_COLUMNS,
    OPTIONAL_METRIC_COLUMNS,
    REFIT_ROLE,
    SIZE_COLUMNS,
)
from . import parse
from .collect import Run, TrialFile
from .flags import final_flags

#: Columns whose absence from a trial is worth a warning.
EXPECTED_COLUMNS = ["epoch", *METRIC_COLUMNS, *FWD_COLUMNS]
#: Flags the loader adds (booleans).
FLAG_COLUMNS = ["final_trial", "final_epoch", "placeholder", "diverged", "rerun", OBSERVED_COLUMN]
#: Columns in front, in this order; the rest follow as read.
LEAD_COLUMNS = [*KEY_COLUMNS, "epoch", "task", "dataset", "role", "status", "completion", *FLAG_COLUMNS]
_INTERNAL = ("_line", "_file", "_run")


def _present(trials: list[TrialFile], firsts: list[bytes], col: str) -> np.ndarray:
    """Whether each trial's file carries the key ``col`` (first line, else anywhere)."""
    key = b'"' + col.encode() + b'"'
    return np.fromiter((key in first or key in t.data for t, first in zip(trials, firsts)),
                       dtype=bool, count=len(trials))


def _names(items: list[str], limit: int = 5) -> str:
    items = list(dict.fromkeys(items))  # a trial's result.json and rerun.json share its name
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _group_names(df: pd.DataFrame, mask: np.ndarray, limit: int = 5) -> str:
    names = (df.loc[mask, "run"].astype(str) + "/" + df.loc[mask, "strategy"].astype(str)
             + "-seed" + df.loc[mask, "seed"].astype(str) + "/" + df.loc[mask, "trial_id"].astype(str))
    return _names(list(dict.fromkeys(names)), limit)


def _per_file(values: list[Any], f: np.ndarray, dtype: Any) -> np.ndarray:
    return np.asarray(values, dtype=dtype)[f]


def _check_columns(df: pd.DataFrame, trials: list[TrialFile], f: np.ndarray, warn: list[str]) -> None:
    """Warn about columns a trial lacks, and mark rows with NaN/inf losses as diverged."""
    n_files = len(trials)
    missing: dict[str, list[str]] = {}
    present: dict[str, np.ndarray] = {}
    firsts = [t.first_line for t in trials]
    for col in EXPECTED_COLUMNS:
        present[col] = _present(trials, firsts, col) if col in df else np.zeros(n_files, dtype=bool)
        if not present[col].all():
            missing[col] = [trials[i].display for i in np.flatnonzero(~present[col])]
    for col, names in missing.items():
        fill = "0" if col in FWD_COLUMNS else "NaN"
        warn.append(f"column {col!r} missing in trial(s) {_names(names)}; filled with {fill}")
    # FLOPs and device seconds: absent from every trial is an older run (silent, totals show "-");
    # absent from some trials only is worth naming, since it leaves their totals unknown.
    lacking: dict[tuple[str, ...], list[str]] = {}
    for col in OPTIONAL_COST_COLUMNS:
        if col in df:
            has = _present(trials, firsts, col)
            if not has.all():
                lacking.setdefault(tuple(trials[i].display for i in np.flatnonzero(~has)), []).append(repr(col))
    for shown, cols in lacking.items():
        warn.append(f"column{'s' if len(cols) > 1 else ''} {', '.join(cols)} missing in trial(s) "
                    f"{_names(list(shown))} (others carry them); left NaN: totals on that cost axis show '-'")
    # A NaN/inf loss on a trial that reports that loss is divergence, whether or not the
    # trial flagged it itself; a column the trial never wrote is not.
    # A row whose model was not observed (``observe_every``) has NaN test metrics by design.
    observed = (df[OBSERVED_COLUMN].astype("boolean").fillna(True).to_numpy(dtype=bool)
                if OBSERVED_COLUMN in df else np.ones(len(df), dtype=bool))
    df[OBSERVED_COLUMN] = observed
    bad = np.zeros(len(df), dtype=bool)
    for col in DIVERGENCE_COLUMNS:
        if col in df:
            v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
            judged = observed if col.startswith("test_") else True
            bad |= ~np.isfinite(v) & present[col][f] & judged
    flagged = df["diverged"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "diverged" in df \
        else np.zeros(len(df), dtype=bool)
    # a re-run row that diverged was run again: no word about it (its flag stays on the row)
    said = (bad | flagged) & ~df["rerun"].to_numpy(dtype=bool)
    if said.any():
        warn.append(f"NaN/inf metrics (diverged) in trial(s) "
                    f"{_names([trials[i].display for i in np.unique(f[said])])}; rows kept")
    df["diverged"] = bad | flagged


def assemble(trials: list[TrialFile], runs: list[Run], placeholders: list[dict[str, Any]],
             warn: list[str]) -> pd.DataFrame:
    """Parsed rows + labels of their trial and run + placeholder rows, typed and flagged."""
    df = parse.parse_trials(trials, warn)
    n_files = len(trials)
    if len(df):
        f = df["_file"].to_numpy(dtype=np.int64)
        df["_run"] = np.fromiter((t.run for t in trials), dtype=np.int64, count=n_files)[f]
        for col, vals in (("strategy", [t.strategy for t in trials]), ("trial_dir", [t.trial_dir for t in trials])):
            cats = pd.Index(vals).unique()
            df[col] = pd.Categorical.from_codes(cats.get_indexer(vals)[f], categories=cats)
        df["seed"] = np.fromiter((t.seed for t in trials), dtype=np.int64, count=n_files)[f]
        df["rerun"] = np.fromiter((t.rerun for t in trials), dtype=bool, count=n_files)[f]
        # per (strategy, seed), from metadata.json: the same value on every row of it
        df["completion"] = _per_file([runs[t.run].completion(t.strategy, t.seed) for t in trials], f, object)
        df["driver_seconds"] = _per_file([runs[t.run].driver_time(t.strategy, t.seed) for t in trials], f,
                                         np.float64)
        if "placeholder" not in df:
            df["placeholder"] = False
        # a rerun.json with no readable row adds nothing (its trial has its result.json)
        empty_rerun = df["placeholder"].astype("boolean").fillna(False).to_numpy(dtype=bool) & df["rerun"].to_numpy()
        if empty_rerun.any():
            df = df[~empty_rerun].reset_index(drop=True)
            f = df["_file"].to_numpy(dtype=np.int64)
        _check_columns(df, trials, f, warn)
    if placeholders:
        ph = pd.DataFrame(placeholders)
        ph["_file"] = np.arange(n_files, n_files + len(ph))
        ph["completion"] = [runs[r].completion(s, k) for r, s, k in zip(ph["_run"], ph["strategy"], ph["seed"])]
        ph["driver_seconds"] = [runs[r].driver_time(s, k) for r, s, k in zip(ph["_run"], ph["strategy"], ph["seed"])]
        df = pd.concat([df, ph], ignore_index=True, sort=False) if len(df) else ph
    return _tidy(_label(df, runs), runs, warn)


def _run_labels(from_metadata: list[Any], own: pd.Series | None, r: np.ndarray,
                last_resort: list[str] | None) -> np.ndarray:
    """Per run, the label of its rows that carry none (placeholders of a strategy with no
    rows yet): metadata.json's, else the label the run's other rows carry, else
    ``last_resort`` (the run folder's name) or None.

    Why: a run whose metadata.json is unreadable or names nothing would otherwise label its
    placeholders by its folder name and an unknown dataset while its rows say ``quick`` on
    ``mnist1d``, and one strategy would split into two rows of the table."""
    labels = np.asarray(from_metadata, dtype=object).copy()
    if own is not None and own.notna().any():
        seen = own.astype(object).groupby(r, sort=True).first()  # first non-null per run
        for i in np.flatnonzero(pd.isna(labels)):
            v = seen.get(i)
            labels[i] = v if v is not None and not pd.isna(v) else None
    if last_resort is not None:
        for i in np.flatnonzero(pd.isna(labels)):
            labels[i] = _RUN_STAMP.sub("", last_resort[i]) or last_resort[i]
    return labels


def _dataset_of_experiment(labels: np.ndarray, experiments: np.ndarray, own: pd.Series,
                           experiment: pd.Series) -> np.ndarray:
    """A run that names no dataset anywhere (metadata.json unreadable, no rows yet) is on the
    dataset that the other runs of its experiment carry, where that is one dataset: it
    would otherwise split its experiment into an ``unknown`` dataset of its own."""
    labels = labels.copy()
    for i in np.flatnonzero(pd.isna(labels)):
        found = own[(experiment == experiments[i]).to_numpy() & own.notna().to_numpy()].unique()
        if len(found) == 1:
            labels[i] = found[0]
    return labels


#: the UTC timestamp the harness appends to a run folder's name (`<experiment>-<stamp>`)
_RUN_STAMP = re.compile(r"-\d{8}-\d{6}(-\d{3})?$")


def _label(df: pd.DataFrame, runs: list[Run]) -> pd.DataFrame:
    """Labels from the rows, the trial's config, the run's metadata, in that order."""
    r = df["_run"].to_numpy(dtype=np.int64)
    experiments = np.asarray([None] * len(runs), dtype=object)  # per run, once labelled
    for col, src in (("experiment", [ru.experiment for ru in runs]),
                     ("dataset", [ru.dataset for ru in runs])):
        own = df.get(col)
        if own is not None:  # an empty label is none (a user's own Tuner sets no experiment)
            own = own.astype(object).mask(own.astype(object) == "")
        if col == "dataset" and "config.dataset" in df:
            own = df["config.dataset"] if own is None else own.fillna(df["config.dataset"])
        run_label = _run_labels(src, own, r, [ru.name for ru in runs] if col == "experiment" else None)
        if col == "experiment":
            experiments = run_label
        elif own is not None:
            run_label = _dataset_of_experiment(run_label, experiments, own, df["experiment"])
        fallback = pd.Series(run_label[r], index=df.index)
        df[col] = fallback if own is None else own.astype(object).where(own.notna(), fallback)
    # NaN in a grouping label silently drops rows from pandas' groupby and joins: name it
    df["dataset"] = df["dataset"].where(df["dataset"].notna(), "unknown")
    # The task a row belongs to, for statistics across the tasks of a suite (one run per task):
    # the experiment's name, which a suite keeps distinct per task. Any ``task`` key of the rows
    # themselves is replaced: the contract's rows carry none.
    df["task"] = df["experiment"]
    names = [ru.name for ru in runs]
    cats = pd.Index(names).unique()  # a run folder name given twice merges into one label
    df["run"] = pd.Categorical.from_codes(cats.get_indexer(names)[r], categories=cats)
    df["status"] = np.asarray([ru.status for ru in runs], dtype=object)[r]
    if "config.fold" in df:
        df["fold"] = df["fold"].fillna(df["config.fold"]) if "fold" in df else df["config.fold"]
    role = df["role"] if "role" in df else pd.Series(None, index=df.index, dtype=object)
    if "config.role" in df:
        role = role.astype(object).where(role.notna(), df["config.role"])
    if "fold" in df:
        role = role.astype(object).where(role.notna() | (pd.to_numeric(df["fold"], errors="coerce") != -1),
                                         REFIT_ROLE)
    df["role"] = role
    tid = df["trial_id"] if "trial_id" in df else pd.Series(None, index=df.index, dtype=object)
    df["trial_id"] = tid.astype(object).where(tid.notna(), df["trial_dir"].astype(object))
    return df.drop(columns=[c for c in df.columns if c.startswith("config.")])


def _tidy(df: pd.DataFrame, runs: list[Run], warn: list[str]) -> pd.DataFrame:
    """dtypes of the contract, row order, repeated-iteration check, final-model flags."""
    for c in ("placeholder", "rerun"):
        df[c] = df[c].astype("boolean").fillna(False).astype(bool) if c in df else False
    real = ~df["placeholder"]
    for col in EXPECTED_COLUMNS:
        if col not in df:
            df[col] = np.nan
    it = pd.to_numeric(df["training_iteration"], errors="coerce") if "training_iteration" in df \
        else pd.Series(np.nan, index=df.index)
    ep = pd.to_numeric(df["epoch"], errors="coerce")
    line1 = df["_line"].astype("int64") + 1
    df["iteration"] = it.fillna(ep).fillna(line1).where(real, 0).astype("int64")
    df["epoch"] = ep.fillna(df["iteration"]).where(real, 0).astype("int64")
    df = df.drop(columns=[c for c in ("training_iteration",) if c in df])
    for c in FWD_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype("int64")
    # NaN where a run did not record them, never 0. The optional metrics (noise-off test metrics,
    # observe_seconds) are silent when absent: runs written before them lack them, and a model may
    # report them only on the epochs it observed.
    for c in (*OPTIONAL_COST_COLUMNS, *OPTIONAL_METRIC_COLUMNS):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64") if c in df else np.nan
    for c in ("diverged", "done"):
        if c in df:
            df[c] = df[c].astype("boolean").fillna(False).astype(bool)
    if "diverged" not in df:
        df["diverged"] = False
    # rows of older runs (and placeholders) were observed: their test metrics are what they say
    df[OBSERVED_COLUMN] = (df[OBSERVED_COLUMN].astype("boolean").fillna(True).astype(bool)
                           if OBSERVED_COLUMN in df else True)
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce").fillna(-1).astype("int64")
    df["driver_seconds"] = pd.to_numeric(df["driver_seconds"], errors="coerce").astype("float64")
    for c in ["fold", *SIZE_COLUMNS]:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    skip = {*LABEL_COLUMNS, *FWD_COLUMNS, *FLAG_COLUMNS, *_INTERNAL, *SIZE_COLUMNS, *OPTIONAL_COST_COLUMNS,
            *OPTIONAL_METRIC_COLUMNS,
            "seed", "iteration", "epoch", "done", "fold", "trial_dir", "completion", "driver_seconds"}
    for c in df.columns:
        if c in skip:
            continue
        kind = df[c].dtype.kind
        if c in METRIC_COLUMNS or c.startswith(("rho/", "rel/")) or c in parse.RAY_KEEP:
            if kind != "f":
                df[c] = pd.to_numeric(df[c], errors="coerce")
            df[c] = df[c].astype("float64")
        elif kind in "iu":
            df[c] = df[c].astype("float64")
        elif kind == "O" or str(df[c].dtype) in ("str", "string"):
            conv = pd.to_numeric(df[c], errors="coerce")
            if conv.notna().sum() == df[c].notna().sum() and conv.notna().any():
                df[c] = conv.astype("float64")
    for c in [*LABEL_COLUMNS, "trial_dir", "completion"]:
        if not isinstance(df[c].dtype, pd.CategoricalDtype):
            col = df[c].astype(object)
            if not all(isinstance(v, str) for v in col.dropna().unique()):
                col = col.map(str, na_action="ignore")  # numbers as labels become their text
            df[c] = col.astype("category")
    df = df.sort_values(["_file", "_line"], kind="stable").reset_index(drop=True)
    # A (trial, iteration) repeated in result.json is kept without a word: a PBT or PB2 member
    # that exploits another's checkpoint, or a trial a user's own Tuner restarts, reports
    # iterations again (its training goes on, and costs); nothing is wrong with the run.
    df["final_trial"], df["final_epoch"] = final_flags(df, runs, warn)
    rest = [c for c in df.columns if c not in LEAD_COLUMNS and c not in _INTERNAL]
    return df[LEAD_COLUMNS + rest]
