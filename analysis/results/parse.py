"""Parsing result.json lines into one DataFrame: a fast pyarrow path and a slow, naming fallback.

Speed (100,000 rows in about a second, benchmarks/bench_analysis.py): all files are
parsed in one multithreaded ``pyarrow.json`` read against an explicit schema sampled
from each trial's first and last line, and only the trials that read fails on (a
corrupt line, a value of another type) are isolated by halving and read again with
Python's json, line by line, so they can be named.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pj

from .collect import TrialFile

#: Ray Tune's own keys we keep (renamed where noted); everything else of Ray's is dropped.
RAY_KEEP = {"trial_id", "training_iteration", "time_total_s", "time_this_iter_s", "timestamp", "done"}
RAY_DROP = {
    "config", "date", "hostname", "node_ip", "pid", "time_since_restore",
    "iterations_since_restore", "timesteps_total", "episodes_total",
    "timesteps_since_restore", "experiment_tag", "checkpoint_dir_name",
    "should_checkpoint", "trial_resources", "episode_reward_mean", "warmup_time",
    "experiment_id", "logdir", "trial_log_path",
}
#: Keys of the nested ``config`` that label a row (as ``config.<key>``) and their kinds.
CONFIG_FIELDS = {"dataset": "str", "role": "str", "fold": "num"}

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


def infer_schema(trials: list[TrialFile]) -> pa.Schema | None:
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
            for k in CONFIG_FIELDS:
                if k in cfg:
                    cfg_kinds[k].add(_kind(cfg[k]))
    fields = []
    for k, types in kinds.items():
        ks = {_KIND_OF_TYPE.get(t, "nested") for t in types}
        if k == "config":
            sub = [(c, pa.string() if want == "str" else pa.float64())
                   for c, want in CONFIG_FIELDS.items() if cfg_kinds.get(c) and cfg_kinds[c] <= {want, "none"}]
            if sub:
                fields.append((k, pa.struct(sub)))
            continue
        if k in RAY_DROP or "nested" in ks:
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


def read_fast(chunk: list[TrialFile], schema: pa.Schema) -> pa.Table | None:
    buf = b"".join(t.data for t in chunk)
    try:
        table = pj.read_json(io.BytesIO(buf), read_options=pj.ReadOptions(block_size=1 << 23),
                             parse_options=pj.ParseOptions(explicit_schema=schema,
                                                           unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return table if table.num_rows == sum(t.n_lines for t in chunk) else None


def read_slow(t: TrialFile, warn: list[str]) -> pd.DataFrame:
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
        rec = {k: v for k, v in obj.items() if k not in RAY_DROP and _kind(v) != "nested"}
        cfg = obj.get("config")
        if isinstance(cfg, dict):
            for c in CONFIG_FIELDS:
                if c in cfg and _kind(cfg[c]) in ("str", "num", "none"):
                    rec[f"config.{c}"] = cfg[c]
        rec["_line"] = i
        rows.append(rec)
    if not rows:
        warn.append(f"trial {t.display}: no readable rows in result.json; kept as one placeholder row")
        return pd.DataFrame([{"_line": 0, "placeholder": True}])
    return pd.DataFrame.from_records(rows)


def parse_trials(trials: list[TrialFile], warn: list[str]) -> pd.DataFrame:
    """All trials' rows, with ``_file`` (index into ``trials``) and ``_line``.

    Fast path: one multithreaded pyarrow read of all files at once with an
    explicit schema. Where that fails (a corrupt line, a type that changes), the
    files are halved until the bad ones are isolated, and those alone go through
    Python's json line by line, so one damaged trial costs little and is named.
    """
    schema = infer_schema(trials)
    pieces: list[pd.DataFrame] = []

    def fast(lo: int, hi: int) -> None:
        table = read_fast(trials[lo:hi], schema) if schema is not None else None
        if table is not None:
            df = table.flatten().to_pandas()
            counts = np.fromiter((t.n_lines for t in trials[lo:hi]), dtype=np.int64, count=hi - lo)
            df["_file"] = np.repeat(np.arange(lo, hi), counts)
            starts = np.repeat(np.cumsum(counts) - counts, counts)
            df["_line"] = np.arange(len(df)) - starts
            pieces.append(df)
        elif hi - lo == 1 or schema is None:
            for i in range(lo, hi):
                df = read_slow(trials[i], warn)
                df["_file"] = i
                pieces.append(df)
        else:
            mid = (lo + hi) // 2
            fast(lo, mid)
            fast(mid, hi)

    if trials:
        fast(0, len(trials))
    return pd.concat(pieces, ignore_index=True, sort=False) if pieces else pd.DataFrame()
