"""One run's files in memory: metadata.json parsed, every result.json read as bytes (not parsed yet).

Reading is separated from parsing so that all trials of all runs can be parsed in one
multithreaded pyarrow read (:mod:`.parse`). Here each file is only normalised to complete
lines, and labelled with what its folder says (strategy, seed, trial directory).
"""

from __future__ import annotations

import json
import math
import numbers
import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from ..contract import COMPLETIONS, RERUN_FILE, RUN_STATUSES, strategy_seed_key
from . import listing
from .listing import METADATA, RESULT, STRATEGY_DIR, PathLike


@dataclass
class TrialFile:
    """One result.json (or a rerun.json: rows a retry or restore re-ran, ``rerun=True``), read and
    normalised: complete lines only, each ending in a newline."""

    run: int  # index into the runs list
    strategy: str
    seed: int
    trial_dir: str
    display: str  # run/strategy-seedK/trial dir: how warnings name the trial
    data: bytes
    n_lines: int
    rerun: bool = False

    @property
    def first_line(self) -> bytes:
        return self.data[:self.data.find(b"\n")]

    @property
    def last_line(self) -> bytes:
        return self.data[self.data.rfind(b"\n", 0, len(self.data) - 1) + 1:-1]


@dataclass
class Run:
    """What a run's metadata.json says, as far as the loader needs it."""

    name: str
    status: str
    experiment: str | None
    dataset: str | None
    epochs: int | None = None
    task: str | None = None
    #: ``completed`` of metadata.json: {"<strategy>-seed<k>": "finished" | "errored"}; None in
    #: runs written before the harness recorded it.
    completed: dict[str, str] | None = None
    #: ``driver_seconds``: {"<strategy>-seed<k>": seconds the driver spent fitting it, over
    #: the first run and every resume}; empty where not recorded.
    driver_seconds: dict[str, float] = field(default_factory=dict)
    expected: list[tuple[str, int]] = field(default_factory=list)

    def completion(self, strategy: str, seed: int) -> str | None:
        """finished / errored / incomplete for one (strategy, seed); None for an old run."""
        if self.completed is None:
            return None
        c = self.completed.get(strategy_seed_key(strategy, seed))
        return c if c in COMPLETIONS else "incomplete"

    def driver_time(self, strategy: str, seed: int) -> float:
        return self.driver_seconds.get(strategy_seed_key(strategy, seed), math.nan)


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


def _run_of(name: str, meta: dict[str, Any] | None) -> Run:
    meta = meta or {}
    status = meta.get("status")
    spec: dict[str, Any] = meta["spec"] if isinstance(meta.get("spec"), dict) else {}
    epochs = spec.get("epochs")
    completed = meta.get("completed")
    seconds = meta.get("driver_seconds")
    strategies, seeds = meta.get("strategies"), meta.get("seeds")
    expected = []
    if isinstance(strategies, list) and isinstance(seeds, list):
        expected = [(str(s), int(k)) for k in seeds for s in strategies if isinstance(k, int)]
    return Run(
        name=name, status=status if status in RUN_STATUSES else "unknown",
        experiment=_meta_label(meta, "experiment") or _meta_label(meta, "name"),
        dataset=_meta_label(meta, "dataset"),
        epochs=epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None,
        task=spec.get("task") if isinstance(spec.get("task"), str) else None,
        completed={str(k): str(v) for k, v in completed.items()} if isinstance(completed, dict) else None,
        driver_seconds={str(k): float(v) for k, v in seconds.items()
                        if isinstance(v, numbers.Real) and not isinstance(v, bool)}
        if isinstance(seconds, dict) else {},
        expected=expected)


def read_run_metadata(fs: pafs.FileSystem, run_root: str, files: list[str],
                      warn: list[str]) -> dict[str, Any] | None:
    """metadata.json of one run, or None. Absent, the directory is a Tune experiment tree of
    a user's own Tuner (a harness run writes it before any trial), so its status is unknown
    without a word; unreadable is said in ``warn``."""
    name = posixpath.basename(run_root)
    meta_path = posixpath.join(run_root, METADATA)
    if meta_path not in files:
        return None
    try:
        meta = json.loads(listing.read_text(fs, meta_path))
    except ValueError:
        warn.append(f"run {name}: {METADATA} is unreadable; status unknown")
        return None
    if not isinstance(meta, dict):
        warn.append(f"run {name}: {METADATA} is not a JSON object; status unknown")
        return None
    return meta


def read_metadata(path: PathLike) -> dict[str, dict[str, Any]]:
    """``{run name: metadata.json contents}`` for each run at ``path`` ({} where absent)."""
    fs, root, _ = listing.resolve(path)
    out: dict[str, dict[str, Any]] = {}
    for run_root, files in listing.find_runs(fs, root, str(path)):
        out[posixpath.basename(run_root)] = read_run_metadata(fs, run_root, files, []) or {}
    return out


def normalise(data: bytes, display: str, warn: list[str], fname: str = RESULT) -> bytes:
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
        warn.append(f"trial {display}: half-written last line of {fname} skipped")
        data = data[:cut].rstrip() if cut >= 0 else b""
        if not data:
            return b""
    if b"\n\n" in data or b"\n " in data or b" \n" in data:
        data = b"\n".join(line.strip() for line in data.split(b"\n") if line.strip())
    return data + b"\n"


def _read_all(fs: pafs.FileSystem, paths: list[str]) -> list[bytes]:
    if isinstance(fs, pafs.LocalFileSystem):
        return [listing.read_bytes(fs, p) for p in paths]  # threads only add overhead here
    with ThreadPoolExecutor(max_workers=16) as pool:  # object stores: latency-bound
        return list(pool.map(lambda p: listing.read_bytes(fs, p), paths))


def collect_run(fs: pafs.FileSystem, run_root: str, files: list[str], warn: list[str],
                runs: list[Run], metadata: dict[str, dict[str, Any]],
                trials: list[TrialFile], placeholders: list[dict[str, Any]]) -> None:
    """Read one run's metadata.json and every result.json below it (bytes, not parsed yet).

    Appends to ``runs``, ``metadata``, ``trials``; a trial or a ``<strategy>-seed<k>``
    folder with no rows becomes one entry of ``placeholders``, so its strategy stays visible.
    A trial's rerun.json (rows the harness moved out of result.json: re-run epochs, or an
    orphaned trial directory's rows) is read too, as a file of its own marked ``rerun``.
    """
    name = posixpath.basename(run_root)
    meta = read_run_metadata(fs, run_root, files, warn)
    run = _run_of(name, meta)
    ri = len(runs)
    runs.append(run)
    metadata[name] = meta or {}

    def placeholder(strategy: str, seed: int, trial_dir: str) -> None:
        placeholders.append({"_run": ri, "strategy": strategy, "seed": seed, "trial_dir": trial_dir,
                             "trial_id": trial_dir, "_line": 0, "placeholder": True})

    dirs_seen: set[str] = set()  # <strategy>-seed<k> folders that hold a result.json
    cut = len(run_root.rstrip("/")) + 1
    result_files = sorted(f for f in files if f.endswith(("/" + RESULT, "/" + RERUN_FILE)))
    for f, blob in zip(result_files, _read_all(fs, result_files)):
        rel = f[cut:].split("/")
        rerun = rel[-1] == RERUN_FILE
        m = STRATEGY_DIR.match(rel[0]) if len(rel) >= 2 else None
        trial_dir = rel[-2] if len(rel) >= 2 else name
        display = f"{name}/{'/'.join(rel[:-1])}"
        dirs_seen.add(rel[0])
        data = normalise(blob, display, warn, rel[-1])
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
        if not data and rerun:
            continue  # an empty rerun.json: nothing was re-run
        if not data:
            warn.append(f"trial {display}: empty {RESULT} (no complete rows); kept as one placeholder row")
            placeholder(strategy, seed, trial_dir)
            continue
        trials.append(TrialFile(ri, strategy, seed, trial_dir, display, data, data.count(b"\n"), rerun))
    # A <strategy>-seed<k> folder with no result.json at all (a Tuner that never reported)
    folders = {f[cut:].split("/", 1)[0] for f in files}
    for child in sorted(folders):
        m = STRATEGY_DIR.match(child)
        if m and child not in dirs_seen:
            warn.append(f"run {name}: {child} has no {RESULT}; kept as one placeholder row")
            placeholder(m.group("strategy"), int(m.group("seed")), child)
    # What metadata.json expects but has no folder yet: not loaded, but never silent.
    if run.completed is not None:
        absent = [strategy_seed_key(s, k) for s, k in run.expected
                  if strategy_seed_key(s, k) not in folders and strategy_seed_key(s, k) not in run.completed]
        if absent:
            warn.append(f"run {name}: {len(absent)} (strategy, seed) not started: {', '.join(absent[:8])}"
                        + (f" (+{len(absent) - 8} more)" if len(absent) > 8 else ""))
