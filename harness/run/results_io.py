"""Keeping a Tune experiment's result files one-row-per-epoch, without losing any cost.

Ray Tune appends every report to a trial's `result.json`. When a trial is restored from a
checkpoint older than its last report (a retry after a failure between checkpoints, or a
driver killed between two experiment-state snapshots), the epochs after that checkpoint are
trained and reported again, and the file holds two rows for them. The later rows are the
ones whose state the trial continued from, so `dedupe_results` keeps the last row for each
epoch in result.json and moves the superseded ones to `rerun.json` beside it:
the analysis counts them as cost (they were computed) and nowhere else. A killed driver can
also leave a trial directory that the restored experiment state never heard of (created
after the last snapshot); its trial is re-created under a new id, so `retire_orphans` moves
the unknown directory's rows to its `rerun.json` too. Both make "every trial's rows exactly
once" hold after `crossreg resume` while every epoch a strategy paid for stays in its cost.
And a result.json that storage holds behind its trial's checkpoint (the driver died while
copying it) gets its missing rows back from the checkpoint (`recover_checkpointed_rows`).
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Iterable
from typing import Any

from analysis.contract import (
    CHECKPOINT_ROWS_FILE,
    COST_COLUMNS,
    EPOCH,
    TRAINING_ITERATION,
    TRIAL_ID,
    final_trial,
)
from harness.run.storage import Storage

RESULT_FILE = "result.json"
RERUN_FILE = "rerun.json"  # rows a retry or restore superseded: cost, not results
SCHEDULER_STOP_FILE = "scheduler_stop.json"  # a scheduler stopped this trial while paused
PARAMS_FILE = "params.json"


def trial_dirs(experiment: Storage) -> list[str]:
    """Names of the trial directories of one Tune experiment."""
    return [d for d in experiment.list_dirs()
            if experiment.exists(posixpath.join(d, PARAMS_FILE))
            or experiment.exists(posixpath.join(d, RESULT_FILE))]


def read_rows(experiment: Storage, trial: str) -> list[dict[str, Any]]:
    """The rows of one trial; a line that is not a JSON object (the half-written last line
    of a killed trial) is skipped: it holds no complete report."""
    return _parse(experiment, trial)[0]


def _parse(experiment: Storage, trial: str) -> tuple[list[dict[str, Any]], int]:
    rel = posixpath.join(trial, RESULT_FILE)
    if not experiment.exists(rel):
        return [], 0
    rows, broken = [], 0
    for line in experiment.read_text(rel).splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            broken += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            broken += 1
    return rows, broken


def cut_partial_lines(experiment: Storage) -> list[str]:
    """Cut a half-written last line (no newline: its writer was killed) from every
    result.json, so that the next row Tune appends starts on a line of its own instead of
    being glued to the fragment and lost with it; return the trials that had one."""
    cut = []
    for trial in trial_dirs(experiment):
        rel = posixpath.join(trial, RESULT_FILE)
        if not experiment.exists(rel):
            continue
        text = experiment.read_text(rel)
        if text and not text.endswith("\n"):
            experiment.write_text(rel, text[:text.rfind("\n") + 1])
            cut.append(trial)
    return cut


def dedupe_results(experiment: Storage) -> int:
    """Keep the last row per epoch (or training_iteration) in every result.json, move the superseded
    rows to rerun.json and drop lines that are not rows (a truncated last line would
    otherwise sit in the middle of the file once Tune appends to it); return the rows moved."""
    moved = 0
    for trial in trial_dirs(experiment):
        rows, broken = _parse(experiment, trial)
        last: dict[Any, int] = {}
        for i, row in enumerate(rows):
            last[_step(row, i)] = i
        keep = set(last.values())
        if len(keep) == len(rows) and not broken:
            continue
        kept = [rows[i] for i in sorted(keep, key=lambda i: _step(rows[i], i))]
        _append_rerun(experiment, trial, [r for i, r in enumerate(rows) if i not in keep])
        experiment.write_text(posixpath.join(trial, RESULT_FILE), _lines(kept))
        moved += len(rows) - len(kept)
    return moved


def _step(row: dict[str, Any], position: int) -> Any:
    """What a row is the report of: its epoch where it has one, else its iteration. After
    `Tuner.restore` Tune goes on counting `training_iteration` from the last report while
    the trial re-trains the epochs after its checkpoint, so a re-run epoch comes back under a
    new iteration number: only the epoch says which rows it supersedes."""
    return row.get(EPOCH, row.get(TRAINING_ITERATION, position))


def retire_orphans(experiment: Storage, known_trial_paths: Iterable[str]) -> list[str]:
    """Move the rows of trial directories that the (restored) experiment does not own to
    their rerun.json (the epochs were paid for; the trial was re-created under a new id);
    return those directories."""
    known = {posixpath.basename(str(p).rstrip("/")) for p in known_trial_paths}
    retired = []
    for trial in trial_dirs(experiment):
        if trial in known:
            continue
        rows, _ = _parse(experiment, trial)
        if rows:
            _append_rerun(experiment, trial, rows)
            experiment.delete_file(posixpath.join(trial, RESULT_FILE))
            retired.append(trial)
    return retired


def recover_checkpointed_rows(experiment: Storage) -> dict[str, int]:
    """Put back the rows a trial's newest checkpoint holds (`CHECKPOINT_ROWS_FILE`, written by
    the trainable) that its result.json lacks, in epoch order; return how many per trial.

    Tune persists a checkpoint as the trial reports it but copies the driver's result.json to
    storage only now and then, so a driver that died mid-copy (a full disk, a kill) can leave
    result.json rows behind the checkpoint its trial is restored from: the trial would go on
    after the gap, and the epochs in it would be missing from every curve and cost. Only the
    trial's own rows come back (a PBT member's checkpoint holds its donor's earlier rows).
    Every directory is looked at, not only `trial_dirs`: the trial process writes its
    checkpoints to storage itself, so a driver killed before its first copy leaves a trial
    directory of checkpoints alone, with no params.json or result.json; Tune would then
    restore that trial from its checkpoint into an empty result.json. Every checkpoint is read,
    newest first (`_checkpoint_rows`)."""
    recovered = {}
    for trial in experiment.list_dirs():
        checkpoints = _checkpoint_rows(experiment.child(trial))
        if not checkpoints:
            continue
        rows, _ = _parse(experiment, trial)
        # the trial's own id: on its result.json rows, else on its newest checkpoint's last row
        owner = next((r[TRIAL_ID] for r in reversed(rows) if TRIAL_ID in r), checkpoints[0][-1].get(TRIAL_ID))
        have = {_step(r, i) for i, r in enumerate(rows)}
        missing: dict[Any, dict[str, Any]] = {}
        for saved in checkpoints:  # newest first: an epoch both hold comes from the newer
            for r in saved:
                if r.get(TRIAL_ID) == owner and r.get(EPOCH) not in have:
                    missing.setdefault(r.get(EPOCH), r)
        if missing:
            merged = sorted(rows + list(missing.values()), key=lambda r: r.get(EPOCH, 0))
            experiment.write_text(posixpath.join(trial, RESULT_FILE), _lines(merged))
            recovered[trial] = len(missing)
    return recovered


def _checkpoint_rows(trial: Storage) -> list[list[dict[str, Any]]]:
    """The rows file of each of the trial's checkpoints that holds any, newest first. All of
    them, not the newest alone: a full disk can leave the newest checkpoint folder with its
    rows file empty or cut short (a save that failed, never the one Tune restores from), and
    the older checkpoint then holds the rows the trial goes on after."""
    found = []
    for name in sorted((d for d in trial.list_dirs() if d.startswith("checkpoint_")), reverse=True):
        rel = posixpath.join(name, CHECKPOINT_ROWS_FILE)
        if trial.exists(rel) and (rows := json_rows(trial.read_text(rel))):
            found.append(rows)
    return found


def _lines(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _append_rerun(experiment: Storage, trial: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    rel = posixpath.join(trial, RERUN_FILE)
    before = experiment.read_text(rel) if experiment.exists(rel) else ""
    experiment.write_text(rel, before + _lines(rows))


def strategy_rows(experiment: Storage) -> dict[str, list[dict[str, Any]]]:
    """All rows of one Tune experiment, keyed by trial directory name."""
    return {t: read_rows(experiment, t) for t in trial_dirs(experiment)}


def total_forward(rows: Iterable[dict[str, Any]]) -> float:
    """A strategy's cost in sample-forward passes: the contract's cost columns over rows
    (`fwd_test`, the harness's observation of every trial, is not among them)."""
    total = 0.0
    for row in rows:
        for key in COST_COLUMNS:
            value = row.get(key)
            if value is not None and math.isfinite(float(value)):
                total += float(value)
    return total


def final_row(trials: dict[str, list[dict[str, Any]]], metric: str, mode: str,
              epochs: int) -> dict[str, Any] | None:
    """The final model's last row, by the contract's final-model rule (or None)."""
    chosen = final_trial({t: rows[-1] for t, rows in trials.items() if rows}, metric, mode, epochs)
    return None if chosen is None else trials[chosen][-1]


def scheduler_stopped(experiment: Storage) -> set[str]:
    """Trial directories whose scheduler stopped them while paused (a marker file: HyperBand
    leaves no sign of such a stop in the rows)."""
    return {t for t in trial_dirs(experiment)
            if experiment.exists(posixpath.join(t, SCHEDULER_STOP_FILE))}


def rerun_rows(experiment: Storage) -> list[dict[str, Any]]:
    """Every row that was moved to a rerun.json of this experiment (cost, not results),
    an earlier attempt's directories (`keep_earlier_attempt`) included."""
    out: list[dict[str, Any]] = []
    for trial in experiment.list_dirs():
        out += _rerun_of(experiment, trial)
    return out


def json_rows(text: str) -> list[dict[str, Any]]:
    """The rows of a JSON-lines result file; a line that is not a JSON object (a half-written
    last line, damage) is skipped: the rows around it still count."""
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _rerun_of(experiment: Storage, trial: str) -> list[dict[str, Any]]:
    rel = posixpath.join(trial, RERUN_FILE)
    if not experiment.exists(rel):
        return []
    return json_rows(experiment.read_text(rel))


def keep_earlier_attempt(experiment: Storage) -> int:
    """Before a (strategy, seed) restarts from scratch (a synchronous PBT, which Ray cannot
    restore, or Tune state that cannot be read), turn the earlier attempt into cost only:
    every trial directory keeps its rows, result.json's and rerun.json's together, in its
    rerun.json and nothing else (no params.json, no checkpoint: no reader takes it for a
    trial of the new attempt), and the experiment's own files (tuner.pkl, experiment-state
    snapshots, search state) go. Deleting the directory, as the runner once did, dropped
    the epochs already paid for (44-50% of a resumed PBT's cost), against "a strategy's
    cost is the sum over all of its trials". Safe to repeat after a crash half-way: a row
    already in rerun.json is not added twice. Returns the rows kept."""
    kept = 0
    for trial in experiment.list_dirs():
        rows = _rerun_of(experiment, trial)
        seen = {json.dumps(r, sort_keys=True) for r in rows}
        for row in read_rows(experiment, trial):
            if json.dumps(row, sort_keys=True) not in seen:
                rows.append(row)
        if rows:
            experiment.write_text(posixpath.join(trial, RERUN_FILE), _lines(rows))
        inner = experiment.child(trial)
        for name in inner.list_files():
            if name != RERUN_FILE:
                inner.delete_file(name)
        for name in inner.list_dirs():
            inner.delete_dir(name)
        if not rows:
            experiment.delete_dir(trial)
        kept += len(rows)
    for name in experiment.list_files():
        experiment.delete_file(name)
    return kept


__all__ = [
    "RERUN_FILE",
    "RESULT_FILE",
    "SCHEDULER_STOP_FILE",
    "cut_partial_lines",
    "dedupe_results",
    "final_row",
    "json_rows",
    "keep_earlier_attempt",
    "read_rows",
    "recover_checkpointed_rows",
    "rerun_rows",
    "retire_orphans",
    "scheduler_stopped",
    "strategy_rows",
    "total_forward",
    "trial_dirs",
]
