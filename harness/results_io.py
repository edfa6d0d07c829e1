"""Keeping a Tune experiment's result files one-row-per-epoch, and reading them back.

Ray Tune appends every report to a trial's `result.json`. When a trial is restored from a
checkpoint older than its last report (a retry after a failure between checkpoints, or a
driver killed between two experiment-state snapshots), the epochs after that checkpoint are
trained and reported again, and the file holds two rows for them. The later rows are the
ones whose state the trial continued from, so `dedupe_results` keeps the last row for each
`training_iteration`. A killed driver can also leave a trial directory that the restored
experiment state never heard of (created after the last snapshot); its trial is re-created
under a new id, so `prune_orphans` removes the unknown directory. Both make "every trial's
rows exactly once" hold after `crossreg resume`, and make the accounting count what each
strategy needed, not what infrastructure failures cost.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Iterable
from typing import Any

from analysis.contract import COST_COLUMNS, final_trial
from harness.storage import Storage

RESULT_FILE = "result.json"
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
    """Keep the last row per training_iteration in every result.json and drop lines that are
    not rows (a truncated last line would otherwise sit in the middle of the file once Tune
    appends to it); return the rows dropped."""
    dropped = 0
    for trial in trial_dirs(experiment):
        rows, broken = _parse(experiment, trial)
        last: dict[Any, int] = {}
        for i, row in enumerate(rows):
            last[row.get("training_iteration", i)] = i
        keep = sorted(last.values())
        if len(keep) == len(rows) and not broken:
            continue
        kept = [rows[i] for i in keep]
        kept.sort(key=lambda r: r.get("training_iteration", 0))
        experiment.write_text(posixpath.join(trial, RESULT_FILE),
                              "".join(json.dumps(r) + "\n" for r in kept))
        dropped += len(rows) - len(kept) + broken
    return dropped


def prune_orphans(experiment: Storage, known_trial_paths: Iterable[str]) -> list[str]:
    """Delete trial directories that the (restored) experiment does not own; return them."""
    known = {posixpath.basename(str(p).rstrip("/")) for p in known_trial_paths}
    removed = [d for d in trial_dirs(experiment) if d not in known]
    for d in removed:
        experiment.delete_dir(d)
    return removed


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


__all__ = ["cut_partial_lines", "dedupe_results", "prune_orphans", "strategy_rows", "trial_dirs", "read_rows",
           "total_forward", "final_row"]
