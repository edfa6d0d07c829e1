"""A fix for lost rows in `result.json` when Tune pauses and restarts a trial.

Ray Tune (2.60) writes a trial's `result.json` in a driver-side staging directory and syncs
that directory to the storage path only now and then. When a trial is restarted from a
checkpoint within the same driver session (PBT pausing members so the population can wait
for each other, a retry after a failure), its JSON logger first copies the storage copy of
`result.json` over the staging copy. The storage copy is stale, so every row reported since
the last sync is silently lost (measured: a 4-member synch PBT run on 2 CPUs lost 6 of 24
rows, while progress.csv kept all of them).

`KeepLocalResults` skips that copy when the staging file already exists: the staging file
was written by this very driver and is never older than the storage copy. After a driver
restart (`crossreg resume`) the staging directory is new and empty, so the storage copy is
still fetched as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune.logger import JsonLoggerCallback


class KeepLocalResults(JsonLoggerCallback):
    """Tune's JSON logger, minus the overwrite of fresher local rows by a stale copy."""

    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        local = Path(trial.local_path, file_name)
        if local.exists() and local.stat().st_size > 0:
            return
        super()._restore_from_remote(file_name, trial)


__all__ = ["KeepLocalResults"]
