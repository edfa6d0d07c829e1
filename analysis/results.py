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
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Union

import numpy as np
import pandas as pd
import pyarrow.fs as pafs

PathLike = Union[str, "os.PathLike[str]"]

#: Labels that identify a row; stored as pandas categoricals.
LABEL_COLUMNS = ["run", "experiment", "dataset", "strategy", "trial_id", "role", "status"]
#: Key of one row, in order (``seed`` and ``iteration`` are int64).
KEY_COLUMNS = ["run", "experiment", "strategy", "seed", "trial_id", "iteration"]
#: Sample-forward-pass deltas (docs/contract.md); int64, a missing value counts 0.
FWD_COLUMNS = ["fwd_train", "fwd_reg", "fwd_eval", "fwd_test"]
#: Metric columns every report row carries (docs/contract.md); float64.
METRIC_COLUMNS = [
    "train_loss", "train_acc", "val_loss", "val_acc",
    "test_loss", "test_acc", "test_ece", "test_nll", "test_brier",
    "train_seconds",
]
#: Columns whose absence from a trial is worth a warning.
EXPECTED_COLUMNS = ["epoch", *METRIC_COLUMNS, *FWD_COLUMNS]
#: Losses whose NaN/inf marks a diverged trial. Not val_loss: a grid-CV refit has no
#: validation split and reports NaN there by contract; not *_acc: regression leaves them NaN.
_DIVERGENCE_COLUMNS = ["train_loss", "test_loss"]
#: Split sizes: integers, nullable where a trial did not report them.
_SIZE_COLUMNS = ["n_train", "n_reg", "n_test"]
#: Ray Tune's own keys we keep (renamed where noted); everything else of Ray's is dropped.
_RAY_KEEP = {"trial_id", "training_iteration", "time_total_s", "time_this_iter_s", "timestamp", "done"}
_RAY_DROP = {
    "config", "date", "hostname", "node_ip", "pid", "time_since_restore",
    "iterations_since_restore", "timesteps_total", "episodes_total",
    "timesteps_since_restore", "experiment_tag", "checkpoint_dir_name",
    "should_checkpoint", "trial_resources", "episode_reward_mean", "warmup_time",
    "experiment_id", "logdir", "trial_log_path",
}
_STATUSES = {"running", "finished", "interrupted"}
_STRATEGY_DIR = re.compile(r"^(?P<strategy>.+)-seed(?P<seed>\d+)$")


class ResultsWarning(UserWarning):
    """Something in the result files is incomplete or odd; the load went on."""


# ----------------------------------------------------------------------------- files


def _resolve(path: PathLike) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path inside it, display name) for a local path or a URI."""
    s = os.fspath(path)
    if "://" not in s:
        s = os.path.abspath(os.path.expanduser(s))
    fs, inner = pafs.FileSystem.from_uri(s)
    inner = inner.rstrip("/") or "/"
    return fs, inner, posixpath.basename(inner) or inner


def _list_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """All paths under ``root`` (one recursive listing: cheap on object stores).

    Files as they are, folders with a trailing ``/`` (an empty strategy folder
    must still be seen).
    """
    sel = pafs.FileSelector(root, recursive=True, allow_not_found=False)
    return [i.path if i.type == pafs.FileType.File else i.path.rstrip("/") + "/"
            for i in fs.get_file_info(sel)
            if i.type in (pafs.FileType.File, pafs.FileType.Directory)]


def _read_text(fs: pafs.FileSystem, path: str) -> str:
    with fs.open_input_stream(path) as f:
        return f.read().decode("utf-8", errors="replace")


def _find_runs(fs: pafs.FileSystem, root: str) -> list[tuple[str, list[str]]]:
    """Experiment directories at or one level below ``root``, each with its files.

    ``root`` is a run if it holds ``metadata.json`` or a ``<strategy>-seed<k>``
    folder; otherwise each child folder that is a run counts (a storage folder
    holding several runs).
    """
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"no such experiment directory: {root}")
    if info.type != pafs.FileType.Directory:
        raise NotADirectoryError(f"not an experiment directory: {root}")
    files = _list_files(fs, root)
    by_child: dict[str, list[str]] = defaultdict(list)
    top_level: set[str] = set()
    for f in files:
        rel = posixpath.relpath(f, root) + ("/" if f.endswith("/") else "")
        parts = rel.split("/")
        if len(parts) == 1:
            top_level.add(parts[0])
        else:
            by_child[parts[0]].append(f)
    if "metadata.json" in top_level or any(_STRATEGY_DIR.match(c) for c in by_child):
        return [(root, files)]
    runs = []
    for child, child_files in sorted(by_child.items()):
        child_root = posixpath.join(root, child)
        names = {posixpath.relpath(f, child_root).split("/")[0] for f in child_files}
        if "metadata.json" in names or any(_STRATEGY_DIR.match(n) for n in names):
            runs.append((child_root, child_files))
    if not runs:
        # Not recognisably a run: read it as one anyway so the user sees what is missing.
        return [(root, files)]
    return runs


# ----------------------------------------------------------------------------- parsing


def _parse_lines(text: str, trial: str, warn: list[str]) -> list[dict[str, Any]]:
    """JSON lines -> dicts; a broken line is skipped with a warning naming the trial."""
    rows = []
    lines = text.splitlines()
    n = len(lines)
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)  # Python's json reads Ray's NaN/Infinity literals
        except ValueError:
            where = "half-written last line" if i == n - 1 else f"unreadable line {i + 1}"
            warn.append(f"trial {trial}: {where} of result.json skipped")
            continue
        if isinstance(obj, dict):
            rows.append(obj)
        else:
            warn.append(f"trial {trial}: line {i + 1} of result.json is not a JSON object; skipped")
    return rows


def _label_from_config(cfg: Any, key: str) -> Any:
    if isinstance(cfg, dict):
        v = cfg.get(key)
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
    return None


def _status_of(meta: dict[str, Any] | None) -> str:
    s = (meta or {}).get("status")
    return s if s in _STATUSES else "unknown"


def _meta_label(meta: dict[str, Any] | None, key: str) -> Any:
    """``key`` at the top of metadata.json or inside its ``spec`` (any nesting level 1-2)."""
    if not meta:
        return None
    if isinstance(meta.get(key), (str, int, float)):
        return meta[key]
    spec = meta.get("spec")
    if isinstance(spec, dict):
        if isinstance(spec.get(key), (str, int, float)):
            return spec[key]
        for v in spec.values():
            if isinstance(v, dict) and isinstance(v.get(key), (str, int, float)):
                return v[key]
    return None


def read_metadata(path: PathLike) -> dict[str, dict[str, Any]]:
    """``{run name: metadata.json contents}`` for each run at ``path`` ({} where absent)."""
    fs, root, _ = _resolve(path)
    out: dict[str, dict[str, Any]] = {}
    for run_root, files in _find_runs(fs, root):
        name = posixpath.basename(run_root)
        meta_path = posixpath.join(run_root, "metadata.json")
        out[name] = {}
        if meta_path in files:
            try:
                out[name] = json.loads(_read_text(fs, meta_path))
            except ValueError:
                pass
    return out


def _load_run(fs: pafs.FileSystem, run_root: str, files: list[str], warn: list[str],
              records: list[dict[str, Any]], status: dict[str, str],
              metadata: dict[str, dict[str, Any]], missing: dict[str, list[str]],
              diverged: list[str]) -> None:
    run = posixpath.basename(run_root)
    meta: dict[str, Any] | None = None
    meta_path = posixpath.join(run_root, "metadata.json")
    if meta_path in files:
        try:
            meta = json.loads(_read_text(fs, meta_path))
        except ValueError:
            warn.append(f"run {run}: metadata.json is unreadable; status unknown")
    else:
        warn.append(f"run {run}: no metadata.json; status unknown")
    status[run] = _status_of(meta)
    metadata[run] = meta or {}
    meta_experiment = _meta_label(meta, "experiment") or _meta_label(meta, "name")
    meta_dataset = _meta_label(meta, "dataset")

    result_files = sorted(f for f in files if posixpath.basename(f) == "result.json")
    dirs_seen: set[str] = set()  # <strategy>-seed<k> folders that hold a result.json
    for f in result_files:
        rel = posixpath.relpath(f, run_root).split("/")
        m = _STRATEGY_DIR.match(rel[0]) if len(rel) >= 2 else None
        trial_dir = rel[-2] if len(rel) >= 2 else run
        strategy_dir = rel[0] if len(rel) >= 3 else None
        display = f"{run}/{'/'.join(rel[:-1])}"
        rows = _parse_lines(_read_text(fs, f), display, warn)
        first = rows[0] if rows else {}
        strategy = m.group("strategy") if m else first.get("strategy", strategy_dir or "unknown")
        seed = int(m.group("seed")) if m else first.get("seed", -1)
        if not m:
            warn.append(f"trial {display}: not under a <strategy>-seed<k> folder; "
                        f"labels taken from its rows (strategy={strategy}, seed={seed})")
        dirs_seen.add(rel[0])
        base = {"run": run, "strategy": strategy, "seed": seed, "trial_dir": trial_dir,
                "status": status[run]}
        if not rows:
            warn.append(f"trial {display}: empty result.json (no rows); kept as one placeholder row")
            records.append({**base, "experiment": meta_experiment or run, "dataset": meta_dataset,
                            "trial_id": trial_dir, "_line": 0, "placeholder": True})
            continue
        keys = set().union(*rows)
        for col in EXPECTED_COLUMNS:
            if col not in keys:
                missing[col].append(display)
        if any(r.get("diverged") is True
               or any(isinstance(r.get(c), float) and not math.isfinite(r[c]) for c in _DIVERGENCE_COLUMNS)
               for r in rows):
            diverged.append(display)
        for line_no, r in enumerate(rows):
            cfg = r.get("config")
            rec = {k: v for k, v in r.items() if k not in _RAY_DROP and not isinstance(v, (dict, list))}
            rec.update(base)
            rec["_line"] = line_no
            rec["trial_id"] = r.get("trial_id") or trial_dir
            rec["experiment"] = r.get("experiment") or meta_experiment or run
            if rec.get("dataset") is None:
                rec["dataset"] = _label_from_config(cfg, "dataset") or meta_dataset
            if rec.get("role") is None:
                role = _label_from_config(cfg, "role")
                if role is None and _label_from_config(cfg, "fold") == -1:
                    role = "refit"
                rec["role"] = role
            if rec.get("fold") is None and _label_from_config(cfg, "fold") is not None:
                rec["fold"] = _label_from_config(cfg, "fold")
            records.append(rec)
    # A <strategy>-seed<k> folder with no result.json at all (a Tuner that never reported)
    for child in sorted({posixpath.relpath(f, run_root).split("/")[0] for f in files}):
        m = _STRATEGY_DIR.match(child)
        if m and child not in dirs_seen:
            warn.append(f"run {run}: {child} has no result.json; kept as one placeholder row")
            records.append({"run": run, "strategy": m.group("strategy"), "seed": int(m.group("seed")),
                            "trial_dir": child, "status": status[run],
                            "experiment": meta_experiment or run, "dataset": meta_dataset,
                            "trial_id": child, "_line": 0, "placeholder": True})


# ----------------------------------------------------------------------------- tidy frame


def _names(items: list[str], limit: int = 5) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _group_names(df: pd.DataFrame, mask: pd.Series, limit: int = 5) -> str:
    names = (df.loc[mask, "run"].astype(str) + "/" + df.loc[mask, "strategy"].astype(str)
             + "-seed" + df.loc[mask, "seed"].astype(str) + "/" + df.loc[mask, "trial_id"].astype(str))
    u = list(dict.fromkeys(names))
    more = f" (+{len(u) - limit} more)" if len(u) > limit else ""
    return ", ".join(u[:limit]) + more


def _tidy(records: list[dict[str, Any]], warn: list[str]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records)
    if "placeholder" not in df:
        df["placeholder"] = False
    df["placeholder"] = df["placeholder"].astype("boolean").fillna(False).astype(bool)
    real = ~df["placeholder"]

    for col in EXPECTED_COLUMNS:
        if col not in df:
            df[col] = np.nan
    # dtypes
    if "training_iteration" in df:
        it = pd.to_numeric(df["training_iteration"], errors="coerce")
    else:
        it = pd.Series(np.nan, index=df.index)
    ep = pd.to_numeric(df["epoch"], errors="coerce")
    line1 = df["_line"].astype("int64") + 1
    df["iteration"] = it.fillna(ep).fillna(line1).where(real, 0).astype("int64")
    df["epoch"] = ep.fillna(df["iteration"]).where(real, 0).astype("int64")
    df = df.drop(columns=[c for c in ("training_iteration",) if c in df])
    for c in FWD_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype("int64")
    for c in ("diverged", "done"):
        if c in df:
            df[c] = df[c].astype("boolean").fillna(False).astype(bool)
    df["diverged"] = df["diverged"] if "diverged" in df else False
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce").fillna(-1).astype("int64")
    for c in ["fold", *_SIZE_COLUMNS]:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    skip = set(LABEL_COLUMNS) | set(FWD_COLUMNS) | {"seed", "iteration", "epoch", "diverged", "done",
                                                    "placeholder", "final", "_line", "fold", "trial_dir",
                                                    *_SIZE_COLUMNS}
    for c in df.columns:
        if c in skip:
            continue
        if c in METRIC_COLUMNS or c.startswith(("rho/", "rel/")) or c in _RAY_KEEP:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        elif df[c].dtype == object or str(df[c].dtype) in ("str", "string"):
            conv = pd.to_numeric(df[c], errors="coerce")
            if conv.notna().sum() == df[c].notna().sum():
                df[c] = conv.astype("float64")
        elif df[c].dtype.kind in "iub":
            df[c] = df[c].astype("float64") if df[c].dtype.kind == "i" else df[c]
    for c in LABEL_COLUMNS + ["trial_dir"]:
        if c not in df:
            df[c] = None
        df[c] = df[c].astype("string").astype("category")

    # Duplicate (trial, iteration): PBT cloning can restore an earlier iteration.
    dup = df.duplicated(KEY_COLUMNS, keep=False) & real
    if dup.any():
        warn.append(f"repeated (trial, iteration) rows in trial(s) {_group_names(df, dup)}; "
                    f"all kept (PBT restores can repeat iterations)")

    df = df.sort_values(["run", "strategy", "seed", "trial_id", "_line"], kind="stable")
    df = df.reset_index(drop=True)
    df["final"] = _final_flags(df, warn)
    lead = [*KEY_COLUMNS, "epoch", "dataset", "role", "status", "final", "placeholder", "diverged"]
    rest = [c for c in df.columns if c not in lead and c != "_line"]
    return df[lead + rest]


def _final_flags(df: pd.DataFrame, warn: list[str]) -> np.ndarray:
    """True on every row of each (run, experiment, strategy, seed)'s final model.

    The rule of docs/contract.md: the ``refit`` trial for grid CV; otherwise, among
    trials that ran the most epochs (ASHA-stopped trials are no candidates), the
    best ``val_acc`` at the trial's last row, or the lowest ``val_loss`` where no
    trial reports an accuracy (regression).
    """
    final = np.zeros(len(df), dtype=bool)
    real = ~df["placeholder"].to_numpy()
    # Last row of each trial (file order; a PBT restore may repeat iterations).
    tkeys = ["run", "experiment", "strategy", "seed", "trial_id"]
    sub = df.loc[real]
    if sub.empty:
        warn.append("no result rows at all: no final models")
        return final
    last = sub.groupby(tkeys, sort=False, observed=True).tail(1)
    max_epoch = sub.groupby(tkeys, sort=False, observed=True)["epoch"].max()
    last = last.set_index(tkeys)
    last["max_epoch"] = max_epoch
    last = last.reset_index()
    chosen: list[tuple] = []
    for gkey, g in last.groupby(["run", "experiment", "strategy", "seed"], sort=False, observed=True):
        name = f"{gkey[0]}/{gkey[2]}-seed{gkey[3]}"
        refit = g[g["role"].astype("string") == "refit"]
        if len(refit) or str(gkey[2]) == "grid_cv":
            if not len(refit):
                warn.append(f"{name}: grid CV without a refit trial (still running or interrupted?); "
                            f"no final model")
                continue
            pick = refit.sort_values("max_epoch", kind="stable").iloc[-1]
        else:
            cand = g[g["max_epoch"] == g["max_epoch"].max()]
            metric, sign = ("val_acc", -1.0) if cand["val_acc"].notna().any() or g["val_acc"].notna().any() \
                else ("val_loss", 1.0)
            score = sign * cand[metric].to_numpy(dtype=float)
            if np.isfinite(score).any():
                pick = cand.iloc[int(np.nanargmin(np.where(np.isfinite(score), score, np.nan)))]
            else:
                pick = cand.iloc[0]
                if len(cand) > 1:
                    warn.append(f"{name}: no finite {metric} among the candidates for the final model; "
                                f"took trial {pick['trial_id']}")
        chosen.append(tuple(pick[k] for k in tkeys))
    if chosen:
        idx = pd.MultiIndex.from_frame(df[tkeys].astype(object))
        final = idx.isin(pd.MultiIndex.from_tuples(chosen, names=tkeys)) & real
    return np.asarray(final, dtype=bool)


# ----------------------------------------------------------------------------- public


def load_results(path_or_paths: PathLike | Sequence[PathLike]) -> pd.DataFrame:
    """Read one or many experiment directories into one tidy DataFrame.

    ``path_or_paths``: a local path, a ``file://`` / ``s3://`` / ``gs://`` URI (read
    through ``pyarrow.fs.FileSystem.from_uri``, so nothing is copied first), or a
    list of them. A directory that is not itself a run but holds runs is read as
    all of them.

    Returns one row per (run, experiment, strategy, seed, trial_id, iteration)
    with: categoricals for labels (``run`` = the run folder's name, ``experiment``
    = the rows' label, else metadata.json's, else the folder's), int64 ``seed``,
    ``iteration`` (Ray's ``training_iteration``; else ``epoch``; else line
    number), ``epoch`` and forward-pass deltas ``fwd_*``; float64 metrics and
    ``rho/*``; booleans ``final`` (rows of each strategy and seed's final model,
    rule in docs/contract.md), ``diverged`` and ``placeholder`` (the one row of a
    trial that reported nothing, so its strategy stays visible); ``status`` of
    the run from metadata.json (``running``/``finished``/``interrupted``, else
    ``unknown``), also in ``df.attrs["status"]`` as ``{run: status}``.
    ``df.attrs["metadata"]`` holds each run's metadata.json and
    ``df.attrs["warnings"]`` the warning messages issued.

    Problems in the files are reported with :class:`ResultsWarning`, never raised,
    except a path that does not exist (``FileNotFoundError``).
    """
    paths = [path_or_paths] if isinstance(path_or_paths, (str, os.PathLike)) else list(path_or_paths)
    if not paths:
        raise ValueError("load_results needs at least one path")
    records: list[dict[str, Any]] = []
    warn: list[str] = []
    missing: dict[str, list[str]] = defaultdict(list)
    diverged: list[str] = []
    status: dict[str, str] = {}
    metadata: dict[str, dict[str, Any]] = {}
    for p in paths:
        fs, root, _ = _resolve(p)
        for run_root, files in _find_runs(fs, root):
            name = posixpath.basename(run_root)
            if name in status:
                warn.append(f"run name {name!r} loaded twice; its rows are merged")
            _load_run(fs, run_root, files, warn, records, status, metadata, missing, diverged)
    for col, trials in missing.items():
        fill = "0" if col in FWD_COLUMNS else "NaN"
        warn.append(f"column {col!r} missing in trial(s) {_names(trials)}; filled with {fill}")
    if diverged:
        warn.append(f"NaN/inf metrics (diverged) in trial(s) {_names(diverged)}; rows kept")
    if not records:
        warn.append(f"no result.json found under {', '.join(map(str, paths))}")
        df = _empty_frame()
    else:
        df = _tidy(records, warn)
    for w in warn:
        warnings.warn(w, ResultsWarning, stacklevel=2)
    df.attrs["status"] = status
    df.attrs["metadata"] = metadata
    df.attrs["warnings"] = warn
    return df


def _empty_frame() -> pd.DataFrame:
    cols: dict[str, Any] = {c: pd.Series(dtype="category") for c in LABEL_COLUMNS}
    cols.update({c: pd.Series(dtype="int64") for c in ["seed", "iteration", "epoch", *FWD_COLUMNS]})
    cols.update({c: pd.Series(dtype="float64") for c in METRIC_COLUMNS})
    cols.update({c: pd.Series(dtype=bool) for c in ["final", "placeholder", "diverged"]})
    return pd.DataFrame(cols)


def iter_status(df: pd.DataFrame) -> Iterable[tuple[str, str]]:
    """(run, status) pairs, from ``df.attrs`` or, if a filter dropped attrs, the column."""
    st = df.attrs.get("status")
    if st:
        return list(st.items())
    if "status" in df and len(df):
        return list(df.groupby("run", observed=True)["status"].first().astype(str).items())
    return []
