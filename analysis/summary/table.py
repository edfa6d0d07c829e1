"""The comparison table: one row per (experiment, dataset, strategy), from ``load_results``' frame.

Also where a run's honesty shows: how many seeds of each strategy finished, errored,
did not complete or diverged, and which strategy (if any) the costs are relative to.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ..contract import (
    CHANCE_COLUMNS,
    COST_COLUMNS,
    COST_REFERENCES,
    DEFAULT_COST,
    DET_COLUMNS,
    FLOPS_COST_COLUMNS,
    QUALITY_COLUMNS,
    RESUMED_INEXACT_KEY,
    SWEEP_REFERENCE_KEY,
    collapsed,
    strategy_seed_key,
    total_column,
)
from .costs import check_axis, code_total, row_cost
from .selection import GROUP, REPLICATE, final_rows, labelled
from .statistics import iqm, metric_interval

_COST = list(COST_COLUMNS)
#: Per-seed cost columns of the summary besides ``fwd_*``: FLOPs by kind, the three axes' totals.
_TOTALS = [*FLOPS_COST_COLUMNS, "fwd_total", "flops_total", "device_seconds_total"]
#: Further test metrics reported (mean and interval) where the rows carry them; test_loss is
#: a regression's quality (MSE) and a classifier's NLL.
OPTIONAL_QUALITY = ("test_loss", "test_brier", "test_ece_ts", "test_nll_ts", *DET_COLUMNS)


def is_regression(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` holds a regression experiment: no finite test accuracy anywhere, and
    a finite test loss (MSE) somewhere; its quality is then the test loss, lower is better."""
    acc = frame["test_acc"].to_numpy(dtype=float) if "test_acc" in frame else np.array([])
    loss = frame["test_loss"].to_numpy(dtype=float) if "test_loss" in frame else np.array([])
    return not np.isfinite(acc).any() and bool(np.isfinite(loss).any())


def test_score(frame: pd.DataFrame) -> tuple[str, bool]:
    """The column a model's test quality is ranked by, and whether higher is better."""
    return ("test_loss", False) if is_regression(frame) else ("test_acc", True)
#: Order in which the status names the ways a seed can fall short.
_SHORTFALLS = ("errored", "incomplete", "interrupted", "running", "unknown")


def _wall_seconds(df: pd.DataFrame, g: Any, keys: list[str]) -> pd.Series:
    """Per replicate: the driver's own seconds where metadata.json records them (so the hours a
    stopped run waited before its resume do not count), else Ray's timestamps: last report
    minus the start of the earliest reported iteration, so parallel trials count once."""
    if "timestamp" in df and "time_this_iter_s" in df:
        start = (df["timestamp"] - df["time_this_iter_s"]).groupby(
            [df[k] for k in keys], observed=True, dropna=False, sort=True).min()
        stamped = g["timestamp"].max() - start
    else:
        stamped = pd.Series(np.nan, index=g.size().index)
    if "driver_seconds" not in df:
        return stamped
    driver = g["driver_seconds"].first()
    return driver.where(np.isfinite(driver.to_numpy(dtype=float)), stamped)


def replicate_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, dataset, strategy, run, seed): cost on every axis, re-run epochs, time,
    state and the final model's quality. Costs sum every row, re-run ones included; trials
    count those with rows of their own (a directory holding only re-run rows does not)."""
    keys = [*GROUP, *REPLICATE]
    g = df.groupby(keys, observed=True, dropna=False, sort=True)
    rep = g[_COST].sum()
    rep["fwd_total"] = rep[_COST].sum(axis=1)
    code = g.ngroup().to_numpy()  # the rows' group, numbered in rep's (sorted) order
    placeholder = df["placeholder"].to_numpy(dtype=bool) if "placeholder" in df else np.zeros(len(df), bool)
    for c in FLOPS_COST_COLUMNS:
        rep[c] = code_total(code, len(rep), np.where(placeholder, 0.0, df[c].to_numpy(dtype=float) if c in df
                                                     else np.nan))
    for axis in ("flops", "device_seconds"):
        rep[total_column(axis)] = code_total(code, len(rep), row_cost(df, axis))
    rep["trial_seconds"] = g["train_seconds"].sum(min_count=1)
    rerun = df["rerun"].to_numpy(dtype=bool) if "rerun" in df else np.zeros(len(df), bool)
    rep["rerun_epochs"] = np.bincount(code, weights=rerun, minlength=len(rep)).astype(np.int64)
    # distinct trials per group among the rows that are not re-runs
    t = df["trial_id"]
    tid = (t.cat.codes.to_numpy(dtype=np.int64) + 1 if isinstance(t.dtype, pd.CategoricalDtype)
           else pd.factorize(t, use_na_sentinel=False)[0].astype(np.int64))
    pairs = np.unique(code[~rerun].astype(np.int64) * (int(tid.max(initial=0)) + 1) + tid[~rerun])
    rep["n_trials"] = np.bincount(pairs // (int(tid.max(initial=0)) + 1), minlength=len(rep))
    rep["wall_seconds"] = _wall_seconds(df, g, keys)
    # completion from metadata.json's `completed` where recorded, else the run's status
    state = g["status"].first().astype(str)
    rep["recorded"] = False
    if "completion" in df:
        comp = g["completion"].first()
        state = comp.astype(object).where(comp.notna(), state)
        rep["recorded"] = comp.notna()
    rep["state"] = state
    quality = [*QUALITY_COLUMNS, *(c for c in OPTIONAL_QUALITY if c in df)]
    fin = final_rows(df).drop_duplicates(keys, keep="last").set_index(keys)
    sel = [c for c in ("val_acc", "val_loss") if c in fin]  # what chose it (never a test column)
    rep = rep.join(fin[quality + sel].assign(
        final_role=fin["role"].astype(str) if "role" in fin else "",
        n_train=pd.to_numeric(fin["n_train"], errors="coerce").astype(float) if "n_train" in fin else np.nan,
        final_diverged=fin["diverged"].astype(bool) if "diverged" in fin else False,
        has_final=True), how="left")
    rep["has_final"] = rep["has_final"].astype("boolean").fillna(False).astype(bool)
    rep["final_diverged"] = rep["final_diverged"].astype("boolean").fillna(False).astype(bool)
    rep["final_collapsed"] = _collapsed(rep, fin)
    rep = rep.reset_index()
    # rank within each (experiment, dataset, run, seed) by test quality, 1 = best
    score, higher = test_score(rep)
    rep["rank"] = rep.groupby(["experiment", "dataset", *REPLICATE], observed=True, dropna=False)[
        score].rank(ascending=not higher, method="average")
    return rep


def _collapsed(rep: pd.DataFrame, fin: pd.DataFrame) -> np.ndarray:
    """Per replicate: its final model learned nothing (`analysis.contract.collapsed`: at or
    below the test split's majority-class rate, or an NLL above the uniform predictor's);
    False where unknown (regression, rows written before the chance columns)."""
    cols = ["test_acc", "test_nll", *CHANCE_COLUMNS, "n_test"]
    facts = fin.reindex(columns=cols).apply(pd.to_numeric, errors="coerce").reindex(rep.index)
    values = facts.to_numpy(dtype=float, na_value=np.nan)
    return np.array([not diverged and collapsed(*(float(v) for v in row))
                     for row, diverged in zip(values, rep["final_diverged"].to_numpy(dtype=bool))],
                    dtype=bool)


def _resumed_inexactly(metadata: dict[str, Any], replicates: set[tuple[str, int]], strategy: str) -> int:
    """How many of ``replicates`` ((run, seed)) metadata.json records as resumed with
    decisions that may differ (``resumed_inexact``); a malformed record counts none."""
    n = 0
    for run, k in replicates:
        marked = (metadata.get(run) or {}).get(RESUMED_INEXACT_KEY)
        n += isinstance(marked, dict) and strategy_seed_key(strategy, k) in marked
    return n


def _unseen(metadata: dict[str, Any], runs: set[str], strategy: str, seen: set[tuple[str, int]]) -> Counter:
    """Seeds metadata.json expects of ``strategy`` that have no rows at all, by completion."""
    out: Counter = Counter()
    for run in runs:
        meta = metadata.get(run) or {}
        completed, seeds = meta.get("completed"), meta.get("seeds")
        if not isinstance(completed, dict) or not isinstance(seeds, list) \
                or strategy not in (meta.get("strategies") or []):
            continue
        for k in seeds:
            if isinstance(k, int) and (run, k) not in seen:
                c = completed.get(strategy_seed_key(strategy, k))
                out["errored" if c == "errored" else "finished" if c == "finished" else "incomplete"] += 1
    return out


def _seeds(c: int, n: int) -> str:
    return f"({c} of {n} seed{'' if n == 1 else 's'})"


def status_text(g: pd.DataFrame, unseen: Counter, recorded: bool, inexact: int = 0) -> str:
    """What the status column says for one strategy: ``finished`` only when every seed is.

    ``recorded``: whether any of its runs records per-seed completion; runs that do not
    (written before metadata.json had ``completed``) show their run statuses as before.
    ``inexact``: seeds that a resume continued although the strategy does not declare an
    exact resume (metadata.json ``resumed_inexact``): finished, but perhaps not as the same
    run uninterrupted would have, which a reader comparing strategies must know.
    """
    n = len(g) + sum(unseen.values())
    n_div = int(g["final_diverged"].sum())
    diverged = [f"diverged {_seeds(n_div, n)}"] if n_div else []
    n_col = int(g["final_collapsed"].sum()) if "final_collapsed" in g else 0
    diverged += [f"collapsed {_seeds(n_col, n)}"] if n_col else []
    diverged += [f"resumed: decisions may differ {_seeds(inexact, n)}"] if inexact else []
    if not recorded:
        base = ",".join(sorted(set(g["state"].astype(str))))
        return ", ".join(diverged) if base == "finished" and diverged else ", ".join([base, *diverged])
    counts = Counter(g["state"].astype(str)) + unseen
    parts = [f"{s} {_seeds(counts[s], n)}" for s in _SHORTFALLS if counts[s]]
    parts += [f"{s} {_seeds(c, n)}" for s, c in sorted(counts.items()) if s not in _SHORTFALLS and s != "finished"]
    return ", ".join(parts + diverged) or "finished"


def _reference(out: pd.DataFrame, preferred: list[str]) -> str | None:
    """The first of ``preferred`` (a sweep's ``sweep_reference``), then of :data:`COST_REFERENCES`,
    whose every seed finished with a final model that did not diverge; None (absolute costs
    only) when there is none."""
    for name in dict.fromkeys([*preferred, *COST_REFERENCES]):
        r = out[out["strategy"] == name]
        if len(r) == 1 and r["reference_ok"].iloc[0]:
            return name
    return None


def sweep_references(metadata: dict[str, Any], runs: set[str]) -> list[str]:
    """The ``sweep_reference`` of each of ``runs`` (metadata.json of a budget sweep), in order."""
    refs = [(metadata.get(r) or {}).get(SWEEP_REFERENCE_KEY) for r in sorted(runs)]
    return [str(r) for r in dict.fromkeys(refs) if isinstance(r, str)]


def _mean(values: pd.Series) -> float:
    """Mean over seeds, NaN if any seed's value is unknown (a total that is "-" stays "-")."""
    return float(values.mean(skipna=False)) if len(values) else math.nan


def summarize(df: pd.DataFrame, confidence_level: float = 0.95, cost: str = DEFAULT_COST) -> pd.DataFrame:
    """One row per (experiment, dataset, strategy): quality with intervals over seeds, cost, status.

    Columns:

    * ``n_seeds`` replicates (run, seed) seen; ``n_final`` of them whose final model
      has a finite test accuracy (test loss for regression; a diverged or unfinished one
      does not); ``n_diverged``
      of them whose final model diverged; ``n_trials`` trials per seed (mean).
    * ``<metric>_mean``, ``<metric>_ci_low``, ``<metric>_ci_high``, ``<metric>_iqm`` for
      test_acc, test_ece, test_nll (and test_brier, test_ece_ts, test_nll_ts where the rows
      carry them) of the final model at its last epoch: mean, Student-t interval over
      seeds cut to the metric's range (NaN with one seed; :mod:`.statistics`), and the
      interquartile mean over seeds.
    * ``rank_mean``: mean over seeds of the strategy's rank by test accuracy (test loss
      for regression, lower is better) among the
      strategies of the same (experiment, dataset, run, seed), 1 = best, ties averaged.
    * ``n_train_final``: training rows of the final model (mean over seeds), and
      ``n_train_min`` / ``n_train_max`` over seeds (equal unless the seeds' final models
      trained on different numbers of rows), so that the protocol shows: under ``equal_rows``
      every final model trains on the training split, under ``full_pool`` the methods that need
      no held-out rows (grid CV's refit among them) train on the whole pool.
    * ``test_acc_det_*``, ``test_ece_det_*``, ``test_nll_det_*`` (mean, interval, IQM as
      above): the final model with its noise switched off, where the rows carry it (NaN in runs
      written before; equal to the ``test_*`` columns for a deterministic model), so that a
      stochastic predictor's gain and a regularizer's are seen apart.
    * ``fwd_train``, ``fwd_reg``, ``fwd_eval``: sample-forward passes summed over ALL rows
      of the strategy (every trial, stopped ones included), averaged per seed;
      ``fwd_total`` their sum; ``cost_reference`` the strategy costs are relative to
      (cross_reg, else fixed, passing over one that diverged, errored or did not
      finish in any seed; missing where none qualifies) and ``cost_vs_reference`` =
      the total on the ``cost`` axis divided by the reference's (NaN without one, or
      where either total is unknown). The reference is a sweep's ``sweep_reference``
      where metadata.json names one, else cross_reg, else fixed.
    * ``flops_train``, ``flops_reg``, ``flops_eval``, ``flops_total`` (matmul/conv FLOPs)
      and ``device_seconds_total`` (train_seconds x the device share), summed the same
      way and averaged per seed; NaN (shown "-") where a row that did work lacks them
      (runs written before the trainables recorded them). ``cost_axis``: ``cost``, one
      of ``fwd``, ``flops``, ``device_seconds`` or ``wall`` (then relative to
      ``wall_seconds``).
    * ``rerun_epochs``: rows a retry or restore re-ran (read from rerun.json), per seed;
      they count in every cost total and nowhere else.
    * ``wall_seconds``: per seed, the driver's seconds from metadata.json's
      ``driver_seconds`` where recorded (a resumed run's pause does not count), else
      the Tuner's elapsed time from Ray's timestamps (parallel trials count once).
      ``trial_seconds``: the sum of ``train_seconds`` over all rows (compute time,
      parallel trials add up). Both averaged per seed.
    * ``n_collapsed``: seeds whose final model learned nothing (`analysis.contract.collapsed`:
      not above the test split's majority-class rate, or an NLL above the uniform
      predictor's); such a strategy, like a diverged one, is never the cost reference.
    * ``status``: ``finished`` when every seed finished and no final model diverged or
      collapsed, else what fell short, e.g. ``incomplete (1 of 3 seeds), diverged (1 of 3
      seeds)``, ``collapsed (3 of 3 seeds)``;
      seeds metadata.json expects but that have no rows count as incomplete.
    """
    check_axis(cost)
    if df.empty:
        return pd.DataFrame(columns=[*GROUP, "n_seeds"])
    metadata: dict[str, Any] = dict(df.attrs.get("metadata") or {})  # before labelled() drops attrs
    df = labelled(df)
    rep = replicate_table(df)
    quality = [*QUALITY_COLUMNS, *(c for c in OPTIONAL_QUALITY if c in rep)]
    rows = []
    for key, g in rep.groupby(GROUP, observed=True, dropna=False, sort=True):
        row: dict[str, Any] = dict(zip(GROUP, key))
        row["n_seeds"] = len(g)
        row["n_final"] = int(np.isfinite(g[test_score(g)[0]].to_numpy(dtype=float)).sum())
        row["n_diverged"] = int(g["final_diverged"].sum())
        row["n_collapsed"] = int(g["final_collapsed"].sum())
        row["n_trials"] = float(g["n_trials"].mean())
        for m in quality:
            row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"] = metric_interval(g[m], m, confidence_level)
            row[f"{m}_iqm"] = iqm(g[m])
        row["rank_mean"] = float(g["rank"].mean()) if g["rank"].notna().any() else math.nan
        row["n_train_final"] = float(g["n_train"].mean()) if g["n_train"].notna().any() else math.nan
        # the rows each final model trained on, as they are: seeds that disagree show both ends
        row["n_train_min"], row["n_train_max"] = (float(g["n_train"].min()), float(g["n_train"].max())) \
            if g["n_train"].notna().any() else (math.nan, math.nan)
        for c in _COST:
            row[c] = float(g[c].mean())
        for c in _TOTALS:
            row[c] = _mean(g[c])
        row["rerun_epochs"] = float(g["rerun_epochs"].mean())
        row["wall_seconds"] = float(g["wall_seconds"].mean())
        row["trial_seconds"] = float(g["trial_seconds"].mean())
        unseen = _unseen(metadata, set(g["run"].astype(str)), str(key[2]),
                         set(zip(g["run"].astype(str), g["seed"].astype(int))))
        recorded = bool(g["recorded"].any()) or bool(unseen)
        inexact = _resumed_inexactly(metadata, set(zip(g["run"].astype(str), g["seed"].astype(int))),
                                     str(key[2]))
        row["status"] = status_text(g, unseen, recorded, inexact)
        # Old runs (no per-seed record) cannot say which strategy fell short: as before, any may serve.
        complete = not recorded or ((g["state"] == "finished").all()
                                    and not any(c for s, c in unseen.items() if s != "finished"))
        row["reference_ok"] = bool(g["has_final"].all() and not g["final_diverged"].any()
                                   and not g["final_collapsed"].any() and complete)
        rows.append(row)
    out = pd.DataFrame(rows)
    out["cost_axis"] = cost
    out["cost_reference"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["cost_vs_reference"] = np.nan
    col = total_column(cost)
    runs = set(rep["run"].astype(str))
    for idx in out.groupby(["experiment", "dataset"], dropna=False, sort=False).groups.values():
        block = out.loc[idx]
        ref = _reference(block, sweep_references(metadata, runs))
        if ref is not None:
            total = float(block.loc[block["strategy"] == ref, col].iloc[0])
            out.loc[idx, "cost_reference"] = ref
            out.loc[idx, "cost_vs_reference"] = block[col] / total if total > 0 else np.nan
    out = out.drop(columns=["reference_ok"])
    for c in ("experiment", "dataset", "strategy"):
        out[c] = out[c].astype("string")
    for r in out.itertuples():
        bad = r.n_seeds - r.n_final
        if bad:
            warnings.warn(f"{r.experiment}/{r.strategy}: {bad} of {r.n_seeds} seeds have no final model "
                          f"with a finite test score; their quality is left out of the means", stacklevel=2)
    return out
