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

Speed (100,000 rows in about a second, benchmarks/bench_analysis.py): every
file is read as bytes, all of them are parsed in one multithreaded
``pyarrow.json`` read against an explicit schema sampled from each trial's
first and last line, and only the trials that read fails on (a corrupt line, a
value of another type) are isolated by halving and read again with Python's
json, line by line, so they can be named.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import warnings
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.json as pj

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


def _read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as f:
        return f.read()


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
    cut = len(root.rstrip("/")) + 1
    for f in files:
        parts = f[cut:].split("/")
        if len(parts) == 1:
            top_level.add(parts[0])
        else:
            by_child[parts[0]].append(f)
    if "metadata.json" in top_level or any(_STRATEGY_DIR.match(c) for c in by_child):
        return [(root, files)]
    runs = []
    for child, child_files in sorted(by_child.items()):
        child_root = posixpath.join(root, child)
        names = {f[len(child_root) + 1:].split("/", 1)[0] for f in child_files}
        if "metadata.json" in names or any(_STRATEGY_DIR.match(n) for n in names):
            runs.append((child_root, child_files))
    if not runs:
        # Not recognisably a run: read it as one anyway so the user sees what is missing.
        return [(root, files)]
    return runs


# ----------------------------------------------------------------------------- parsing


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


@dataclass
class _TrialFile:
    """One result.json, read and normalised: complete lines only, each ending in a newline."""

    run: int  # index into the runs list
    strategy: str
    seed: int
    trial_dir: str
    display: str  # run/strategy-seedK/trial dir: how warnings name the trial
    data: bytes
    n_lines: int

    @property
    def first_line(self) -> bytes:
        return self.data[:self.data.find(b"\n")]

    @property
    def last_line(self) -> bytes:
        return self.data[self.data.rfind(b"\n", 0, len(self.data) - 1) + 1:-1]


@dataclass
class _Run:
    name: str
    status: str
    experiment: str | None
    dataset: str | None


def _normalise(data: bytes, display: str, warn: list[str]) -> bytes:
    """Complete lines only: a last line that does not close its object was cut mid-write."""
    if data.endswith(b"}\n") and not data.startswith(b"\n") and b"\n\n" not in data:
        return data  # the common case, one scan; odd whitespace is caught by the row count
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    data = data.strip()
    if not data:
        return b""
    cut = data.rfind(b"\n")
    if not data[cut + 1:].rstrip().endswith(b"}"):
        warn.append(f"trial {display}: half-written last line of result.json skipped")
        data = data[:cut].rstrip() if cut >= 0 else b""
        if not data:
            return b""
    if b"\n\n" in data or b"\n " in data or b" \n" in data:
        data = b"\n".join(line.strip() for line in data.split(b"\n") if line.strip())
    return data + b"\n"


def _collect_run(fs: pafs.FileSystem, run_root: str, files: list[str], warn: list[str],
                 runs: list[_Run], metadata: dict[str, dict[str, Any]],
                 trials: list[_TrialFile], placeholders: list[dict[str, Any]]) -> None:
    """Read one run's metadata.json and every result.json below it (bytes, not parsed yet)."""
    name = posixpath.basename(run_root)
    meta: dict[str, Any] | None = None
    meta_path = posixpath.join(run_root, "metadata.json")
    if meta_path in files:
        try:
            meta = json.loads(_read_text(fs, meta_path))
        except ValueError:
            warn.append(f"run {name}: metadata.json is unreadable; status unknown")
    else:
        warn.append(f"run {name}: no metadata.json; status unknown")
    run = _Run(name, _status_of(meta), _meta_label(meta, "experiment") or _meta_label(meta, "name"),
               _meta_label(meta, "dataset"))
    ri = len(runs)
    runs.append(run)
    metadata[name] = meta or {}

    def placeholder(strategy: str, seed: int, trial_dir: str) -> None:
        placeholders.append({"_run": ri, "strategy": strategy, "seed": seed, "trial_dir": trial_dir,
                             "trial_id": trial_dir, "_line": 0, "placeholder": True})

    dirs_seen: set[str] = set()  # <strategy>-seed<k> folders that hold a result.json
    cut = len(run_root.rstrip("/")) + 1
    result_files = sorted(f for f in files if f.endswith("/result.json"))
    if isinstance(fs, pafs.LocalFileSystem):
        blobs = [_read_bytes(fs, p) for p in result_files]  # threads only add overhead here
    else:
        with ThreadPoolExecutor(max_workers=16) as pool:  # object stores: latency-bound
            blobs = list(pool.map(lambda p: _read_bytes(fs, p), result_files))
    for f, blob in zip(result_files, blobs):
        rel = f[cut:].split("/")
        m = _STRATEGY_DIR.match(rel[0]) if len(rel) >= 2 else None
        trial_dir = rel[-2] if len(rel) >= 2 else name
        display = f"{name}/{'/'.join(rel[:-1])}"
        dirs_seen.add(rel[0])
        data = _normalise(blob, display, warn)
        if m:
            strategy, seed = m.group("strategy"), int(m.group("seed"))
        else:
            first: dict[str, Any] = {}
            try:
                first = json.loads(data[:data.find(b"\n")]) if data else {}
            except ValueError:
                pass
            strategy = str(first.get("strategy", rel[0] if len(rel) >= 3 else "unknown"))
            seed = int(first["seed"]) if isinstance(first.get("seed"), (int, float)) else -1
            warn.append(f"trial {display}: not under a <strategy>-seed<k> folder; labels taken from its "
                        f"rows (strategy={strategy}, seed={seed})")
        if not data:
            warn.append(f"trial {display}: empty result.json (no complete rows); kept as one placeholder row")
            placeholder(strategy, seed, trial_dir)
            continue
        trials.append(_TrialFile(ri, strategy, seed, trial_dir, display, data, data.count(b"\n")))
    # A <strategy>-seed<k> folder with no result.json at all (a Tuner that never reported)
    for child in sorted({f[cut:].split("/", 1)[0] for f in files}):
        m = _STRATEGY_DIR.match(child)
        if m and child not in dirs_seen:
            warn.append(f"run {name}: {child} has no result.json; kept as one placeholder row")
            placeholder(m.group("strategy"), int(m.group("seed")), child)


# ----------------------------------------------------------------------------- parsing

_CONFIG_FIELDS = {"dataset": "str", "role": "str", "fold": "num"}


_KIND_OF_TYPE = {type(None): "none", bool: "bool", int: "num", float: "num", str: "str"}


def _kind(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "num"
    if isinstance(v, str):
        return "str"
    return "nested"


def _infer_schema(trials: list[_TrialFile]) -> pa.Schema | None:
    """Explicit schema for the fast reader, from the first and last line of every trial.

    Declaring it keeps pyarrow from inferring types block by block (an int in one
    block and a float in the next, or the ``config`` dict whose ``rho`` is a number
    in one strategy and a dict in another, would stop the read); keys that are not
    declared (Ray's bookkeeping, nested values, ``config`` beyond dataset / role /
    fold) are skipped by the reader. ``None`` if a key mixes types: then the slow
    path reads everything.
    """
    kinds: dict[str, set[type]] = defaultdict(set)
    cfg_kinds: dict[str, set[str]] = defaultdict(set)
    # First and last line of every trial: a key that only a trial's middle lines carry
    # would be skipped by the reader, so the contract's keys must be on every row.
    for line in dict.fromkeys([t.first_line for t in trials] + [t.last_line for t in trials]):
        try:
            row = json.loads(line)
        except ValueError:
            continue  # the read will fail on it and fall back for this trial
        if not isinstance(row, dict):
            continue
        for k, v in row.items():
            kinds[k].add(type(v))
        cfg = row.get("config")
        if isinstance(cfg, dict):
            for k in _CONFIG_FIELDS:
                if k in cfg:
                    cfg_kinds[k].add(_kind(cfg[k]))
    fields = []
    for k, types in kinds.items():
        ks = {_KIND_OF_TYPE.get(t, "nested") for t in types}
        if k == "config":
            sub = [(c, pa.string() if want == "str" else pa.float64())
                   for c, want in _CONFIG_FIELDS.items() if cfg_kinds.get(c) and cfg_kinds[c] <= {want, "none"}]
            if sub:
                fields.append((k, pa.struct(sub)))
            continue
        if k in _RAY_DROP or "nested" in ks:
            continue
        real = ks - {"none"}
        if real <= {"num"}:
            fields.append((k, pa.float64()))
        elif real == {"bool"}:
            fields.append((k, pa.bool_()))
        elif real == {"str"}:
            fields.append((k, pa.string()))
        else:
            return None
    return pa.schema(fields)


def _read_fast(chunk: list[_TrialFile], schema: pa.Schema) -> pa.Table | None:
    buf = b"".join(t.data for t in chunk)
    try:
        table = pj.read_json(io.BytesIO(buf), read_options=pj.ReadOptions(block_size=1 << 23),
                             parse_options=pj.ParseOptions(explicit_schema=schema,
                                                           unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return table if table.num_rows == sum(t.n_lines for t in chunk) else None


def _read_slow(t: _TrialFile, warn: list[str]) -> pd.DataFrame:
    """Python's json, line by line: skips and names a broken line instead of failing the trial."""
    rows = []
    lines = t.data.split(b"\n")[:-1]
    for i, line in enumerate(lines):
        try:
            obj = json.loads(line)  # reads Ray's NaN / Infinity literals too
        except ValueError:
            warn.append(f"trial {t.display}: unreadable line {i + 1} of result.json skipped")
            continue
        if not isinstance(obj, dict):
            warn.append(f"trial {t.display}: line {i + 1} of result.json is not a JSON object; skipped")
            continue
        rec = {k: v for k, v in obj.items() if k not in _RAY_DROP and _kind(v) != "nested"}
        cfg = obj.get("config")
        if isinstance(cfg, dict):
            for c in _CONFIG_FIELDS:
                if c in cfg and _kind(cfg[c]) in ("str", "num", "none"):
                    rec[f"config.{c}"] = cfg[c]
        rec["_line"] = i
        rows.append(rec)
    if not rows:
        warn.append(f"trial {t.display}: no readable rows in result.json; kept as one placeholder row")
        return pd.DataFrame([{"_line": 0, "placeholder": True}])
    return pd.DataFrame.from_records(rows)


def _parse_trials(trials: list[_TrialFile], warn: list[str]) -> pd.DataFrame:
    """All trials' rows, with ``_file`` (index into ``trials``) and ``_line``.

    Fast path: one multithreaded pyarrow read of all files at once with an
    explicit schema. Where that fails (a corrupt line, a type that changes), the
    files are halved until the bad ones are isolated, and those alone go through
    Python's json line by line, so one damaged trial costs little and is named.
    """
    schema = _infer_schema(trials)
    pieces: list[pd.DataFrame] = []

    def fast(lo: int, hi: int) -> None:
        table = _read_fast(trials[lo:hi], schema) if schema is not None else None
        if table is not None:
            df = table.flatten().to_pandas()
            counts = np.fromiter((t.n_lines for t in trials[lo:hi]), dtype=np.int64, count=hi - lo)
            df["_file"] = np.repeat(np.arange(lo, hi), counts)
            starts = np.repeat(np.cumsum(counts) - counts, counts)
            df["_line"] = np.arange(len(df)) - starts
            pieces.append(df)
        elif hi - lo == 1 or schema is None:
            for i in range(lo, hi):
                df = _read_slow(trials[i], warn)
                df["_file"] = i
                pieces.append(df)
        else:
            mid = (lo + hi) // 2
            fast(lo, mid)
            fast(mid, hi)

    if trials:
        fast(0, len(trials))
    return pd.concat(pieces, ignore_index=True, sort=False) if pieces else pd.DataFrame()


def _present(trials: list[_TrialFile], firsts: list[bytes], col: str) -> np.ndarray:
    """Whether each trial's file carries the key ``col`` (first line, else anywhere)."""
    key = b'"' + col.encode() + b'"'
    return np.fromiter((key in first or key in t.data for t, first in zip(trials, firsts)),
                       dtype=bool, count=len(trials))


def _names(items: list[str], limit: int = 5) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _group_names(df: pd.DataFrame, mask: pd.Series, limit: int = 5) -> str:
    names = (df.loc[mask, "run"].astype(str) + "/" + df.loc[mask, "strategy"].astype(str)
             + "-seed" + df.loc[mask, "seed"].astype(str) + "/" + df.loc[mask, "trial_id"].astype(str))
    u = list(dict.fromkeys(names))
    more = f" (+{len(u) - limit} more)" if len(u) > limit else ""
    return ", ".join(u[:limit]) + more


def _assemble(trials: list[_TrialFile], runs: list[_Run], placeholders: list[dict[str, Any]],
              warn: list[str], epochs_by_run: dict[str, int]) -> pd.DataFrame:
    """Parsed rows + labels of their trial and run + placeholder rows, typed and flagged."""
    df = _parse_trials(trials, warn)
    n_files = len(trials)
    if len(df):
        f = df["_file"].to_numpy(dtype=np.int64)
        df["_run"] = np.fromiter((t.run for t in trials), dtype=np.int64, count=n_files)[f]
        for col, vals in (("strategy", [t.strategy for t in trials]), ("trial_dir", [t.trial_dir for t in trials])):
            cats = pd.Index(vals).unique()
            codes = cats.get_indexer(vals)[f]
            df[col] = pd.Categorical.from_codes(codes, categories=cats)
        df["seed"] = np.fromiter((t.seed for t in trials), dtype=np.int64, count=n_files)[f]
        if "placeholder" not in df:
            df["placeholder"] = False
        # column checks, per trial file
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
        bad = np.zeros(len(df), dtype=bool)
        for col in _DIVERGENCE_COLUMNS:
            if col in df:
                v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
                bad |= ~np.isfinite(v) & present[col][f]
        if "diverged" in df:
            bad |= df["diverged"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if bad.any():
            warn.append(f"NaN/inf metrics (diverged) in trial(s) "
                        f"{_names([trials[i].display for i in np.unique(f[bad])])}; rows kept")
    if placeholders:
        ph = pd.DataFrame(placeholders)
        ph["_file"] = np.arange(n_files, n_files + len(ph))
        df = pd.concat([df, ph], ignore_index=True, sort=False) if len(df) else ph
    # labels from the rows, the trial's config, the run's metadata, in that order
    r = df["_run"].to_numpy(dtype=np.int64)
    for col, src in (("experiment", [ru.experiment or ru.name for ru in runs]),
                     ("dataset", [ru.dataset for ru in runs])):
        fallback = pd.Series(np.asarray(src, dtype=object)[r], index=df.index)
        own = df[col] if col in df else None
        if col == "dataset" and "config.dataset" in df:
            own = df["config.dataset"] if own is None else own.fillna(df["config.dataset"])
        df[col] = fallback if own is None else own.astype(object).where(own.notna(), fallback)
    # NaN in a grouping label silently drops rows from pandas' groupby and joins: name it
    df["dataset"] = df["dataset"].where(df["dataset"].notna(), "unknown")
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
                                         "refit")
    df["role"] = role
    tid = df["trial_id"] if "trial_id" in df else pd.Series(None, index=df.index, dtype=object)
    df["trial_id"] = tid.astype(object).where(tid.notna(), df["trial_dir"].astype(object))
    df = df.drop(columns=[c for c in df.columns if c.startswith("config.")])
    return _tidy(df, warn, epochs_by_run)


def _tidy(df: pd.DataFrame, warn: list[str], epochs_by_run: dict[str, int]) -> pd.DataFrame:
    df["placeholder"] = df["placeholder"].astype("boolean").fillna(False).astype(bool)
    real = ~df["placeholder"]
    for col in EXPECTED_COLUMNS:
        if col not in df:
            df[col] = np.nan
    # dtypes
    it = pd.to_numeric(df["training_iteration"], errors="coerce") if "training_iteration" in df \
        else pd.Series(np.nan, index=df.index)
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
    if "diverged" not in df:
        df["diverged"] = False
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce").fillna(-1).astype("int64")
    for c in ["fold", *_SIZE_COLUMNS]:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    skip = set(LABEL_COLUMNS) | set(FWD_COLUMNS) | {"seed", "iteration", "epoch", "diverged", "done",
                                                    "placeholder", "final", "_line", "_file", "_run", "fold",
                                                    "trial_dir", *_SIZE_COLUMNS}
    for c in df.columns:
        if c in skip:
            continue
        kind = df[c].dtype.kind
        if c in METRIC_COLUMNS or c.startswith(("rho/", "rel/")) or c in _RAY_KEEP:
            if kind != "f":
                df[c] = pd.to_numeric(df[c], errors="coerce")
            df[c] = df[c].astype("float64")
        elif kind in "iu":
            df[c] = df[c].astype("float64")
        elif kind == "O" or str(df[c].dtype) in ("str", "string"):
            conv = pd.to_numeric(df[c], errors="coerce")
            if conv.notna().sum() == df[c].notna().sum() and conv.notna().any():
                df[c] = conv.astype("float64")
    for c in LABEL_COLUMNS + ["trial_dir"]:
        if not isinstance(df[c].dtype, pd.CategoricalDtype):
            col = df[c].astype(object)
            if not all(isinstance(v, str) for v in col.dropna().unique()):
                col = col.map(str, na_action="ignore")  # numbers as labels become their text
            df[c] = col.astype("category")
    df = df.sort_values(["_file", "_line"], kind="stable").reset_index(drop=True)
    # Duplicate (trial, iteration): PBT cloning can restore an earlier iteration.
    dup = df.duplicated(KEY_COLUMNS, keep=False).to_numpy() & ~df["placeholder"].to_numpy()
    if dup.any():
        warn.append(f"repeated (trial, iteration) rows in trial(s) {_group_names(df, dup)}; "
                    f"all kept (PBT restores can repeat iterations)")
    df["final"] = _final_flags(df, warn, epochs_by_run)
    lead = [*KEY_COLUMNS, "epoch", "dataset", "role", "status", "final", "placeholder", "diverged"]
    rest = [c for c in df.columns if c not in lead and c not in ("_line", "_file", "_run")]
    return df[lead + rest]


def _final_flags(df: pd.DataFrame, warn: list[str], epochs_by_run: dict[str, int]) -> np.ndarray:
    """True on every row of each (run, experiment, strategy, seed)'s final model.

    The rule of docs/contract.md: the ``refit`` trial for grid CV; otherwise, among
    trials that ran all the spec's epochs (``epochs_by_run``, from metadata.json; ASHA-
    stopped trials are no candidates), the best ``val_acc`` at the trial's last row, or
    the lowest ``val_loss`` where no trial reports an accuracy (regression). Where no
    trial ran them all (a run still going or interrupted) or the spec is unknown, the
    trials that ran the most epochs stand in, with a warning when the spec was known.
    """
    final = np.zeros(len(df), dtype=bool)
    real = ~df["placeholder"].to_numpy()
    # Last row of each trial (file order; a PBT restore may repeat iterations).
    tkeys = ["run", "experiment", "strategy", "seed", "trial_id"]
    code = df.groupby(tkeys, sort=False, observed=True, dropna=False).ngroup().to_numpy()
    sub = df.loc[real, [*tkeys, "role", "epoch", "val_acc", "val_loss"]].assign(_code=code[real])
    if sub.empty:
        warn.append("no result rows at all: no final models")
        return final
    last = sub.groupby("_code", sort=False).tail(1).set_index("_code")
    last["max_epoch"] = sub.groupby("_code", sort=False)["epoch"].max()
    last = last.reset_index()
    chosen: list[int] = []
    for gkey, g in last.groupby(["run", "experiment", "strategy", "seed"], sort=False, observed=True):
        name = f"{gkey[0]}/{gkey[2]}-seed{gkey[3]}"
        refit = g[g["role"].astype("string") == "refit"]
        if len(refit) or str(gkey[2]) == "grid_cv":
            if not len(refit):
                warn.append(f"{name}: grid CV without a refit trial (still running or interrupted?); "
                            f"no final model")
                continue
            pick = refit.sort_values("max_epoch", kind="stable").iloc[-1]
            if str(gkey[0]) in epochs_by_run and pick["max_epoch"] < epochs_by_run[str(gkey[0])]:
                warn.append(f"{name}: the refit ran {int(pick['max_epoch'])} of "
                            f"{epochs_by_run[str(gkey[0])]} epochs; its metrics are not final")
        else:
            full = epochs_by_run.get(str(gkey[0]))
            done = g[g["max_epoch"] >= full] if full is not None else g.iloc[:0]
            if full is not None and done.empty:
                warn.append(f"{name}: no trial ran all {full} epochs; the furthest-trained "
                            f"stands in as the final model")
            cand = done if len(done) else g[g["max_epoch"] == g["max_epoch"].max()]
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
        chosen.append(int(pick["_code"]))
    return np.isin(code, chosen) & real


# ----------------------------------------------------------------------------- public


def load_results(path_or_paths: PathLike | Sequence[PathLike]) -> pd.DataFrame:
    """Read one or many experiment directories into one tidy DataFrame.

    ``path_or_paths``: a local path, a ``file://`` / ``s3://`` / ``gs://`` URI (read
    through ``pyarrow.fs.FileSystem.from_uri``, so nothing is copied first), or a
    list of them. A directory that is not itself a run but holds runs is read as
    all of them.

    Returns one row per (run, experiment, strategy, seed, trial_id, iteration)
    with: categoricals for labels (``run`` = the run folder's name, ``experiment``
    = the rows' label, else metadata.json's, else the folder's; ``dataset`` = the
    rows', else the trial config's, else metadata.json's, else ``"unknown"``), int64 ``seed``,
    ``iteration`` (Ray's ``training_iteration``; else ``epoch``; else line
    number), ``epoch`` and forward-pass deltas ``fwd_*``; float64 metrics and
    ``rho/*``; booleans ``final`` (rows of each strategy and seed's final model,
    rule in docs/contract.md), ``diverged`` and ``placeholder`` (the one row of a
    trial that reported nothing, so its strategy stays visible); ``status`` of
    the run from metadata.json (``running``/``finished``/``interrupted``, else
    ``unknown``), also in ``df.attrs["status"]`` as ``{run: status}``.
    ``df.attrs["metadata"]`` holds each run's metadata.json and
    ``df.attrs["warnings"]`` the warning messages issued. Ray's bookkeeping keys
    (``config``, ``date``, ``hostname``, ``pid`` ...) are dropped, except
    ``trial_id``, ``time_total_s``, ``time_this_iter_s``, ``timestamp``, ``done``.
    Rows keep file order within a trial.

    Problems in the files are reported with :class:`ResultsWarning`, never raised,
    except a path that does not exist (``FileNotFoundError``).
    """
    paths = [path_or_paths] if isinstance(path_or_paths, (str, os.PathLike)) else list(path_or_paths)
    if not paths:
        raise ValueError("load_results needs at least one path")
    warn: list[str] = []
    runs: list[_Run] = []
    metadata: dict[str, dict[str, Any]] = {}
    trials: list[_TrialFile] = []
    placeholders: list[dict[str, Any]] = []
    for p in paths:
        fs, root, _ = _resolve(p)
        for run_root, files in _find_runs(fs, root):
            name = posixpath.basename(run_root)
            if any(r.name == name for r in runs):
                warn.append(f"run name {name!r} loaded twice; its rows are merged")
            _collect_run(fs, run_root, files, warn, runs, metadata, trials, placeholders)
    if not trials and not placeholders:
        warn.append(f"no result.json found under {', '.join(map(str, paths))}")
        df = _empty_frame()
    else:
        epochs_by_run = {name: int(meta["spec"]["epochs"]) for name, meta in metadata.items()
                         if isinstance(meta.get("spec"), dict)
                         and isinstance(meta["spec"].get("epochs"), int)}
        df = _assemble(trials, runs, placeholders, warn, epochs_by_run)
    for w in warn:
        warnings.warn(w, ResultsWarning, stacklevel=2)
    df.attrs["status"] = {r.name: r.status for r in runs}
    df.attrs["metadata"] = metadata
    df.attrs["warnings"] = warn
    return df


def _empty_frame() -> pd.DataFrame:
    cols: dict[str, Any] = {c: pd.Series(dtype="category") for c in LABEL_COLUMNS}
    cols.update({c: pd.Series(dtype="int64") for c in ["seed", "iteration", "epoch", *FWD_COLUMNS]})
    cols.update({c: pd.Series(dtype="float64") for c in METRIC_COLUMNS})
    cols.update({c: pd.Series(dtype=bool) for c in ["final", "placeholder", "diverged"]})
    return pd.DataFrame(cols)
