"""What a run directory says about the run: its status in metadata.json, kept true whatever
stops the driver.

`recorded` wraps a run's work so that a run directory is never left `running` by a driver
that is gone (Ctrl-C, a lost cluster, a full disk, a bug), `resumable` turns a stop signal
outside it into the same resume hint, and `finish` records the final status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from harness.errors import HarnessError, Interrupted, StorageFault
from harness.run import metadata
from harness.run.interrupts import note_run, resume_hint
from harness.run.storage import Storage


@contextlib.contextmanager
def resumable(run: Storage) -> Iterator[None]:
    """A stop signal that lands outside `recorded` (while a resume connects to Ray, or a
    second one while the lock is released) ends in the same resume hint and exit 130 as
    any other interrupt, once the run has a metadata.json to resume from (`note_run`); not in
    a bare `crossreg: interrupted` that leaves the user to find the run directory."""
    try:
        yield
    except KeyboardInterrupt:
        if not resume_hint():
            raise
        raise Interrupted(f"experiment interrupted; continue it with: "
                          f"crossreg resume {run.root}") from None


@contextlib.contextmanager
def recorded(run: Storage, meta: dict[str, Any]) -> Iterator[None]:
    """Whatever stops the run (Ctrl-C, a lost cluster, a bug) records it `interrupted`:
    a run directory is never left `running` by a driver that is gone. A stop signal that
    arrives where no graceful stop is possible (a second one, one between two Tuners, or
    the driver's wait while units run side by side) is still an interrupt: it ends in the same
    one-line resume hint and exit 130 as the first, not in a bare KeyboardInterrupt."""
    try:
        yield
    except KeyboardInterrupt:
        record_stop(run, meta)
        raise Interrupted(f"experiment interrupted; continue it with: "
                          f"crossreg resume {run.root}") from None
    except HarnessError:
        record_stop(run, meta)
        raise
    except Exception:
        # A run directory that stopped taking writes (read-only, disk full, permission)
        # surfaces anywhere: in Tune's state snapshot, its result grid, our metadata. If a
        # probe write fails now, that is the cause: one line naming the path, not the
        # tracebacks of whichever writer met it first.
        fault = run.write_fault()
        recorded = record_stop(run, meta)
        if fault is None:
            raise
        state = ("recorded interrupted" if recorded
                 else f"its {metadata.FILE} still says running (it could not be written)")
        raise StorageFault(f"cannot write to {run.root} ({fault}): the run stopped, {state}; "
                           f"fix the storage, then continue it with: crossreg resume {run.root}"
                           ) from None
    except BaseException:
        record_stop(run, meta)
        raise


def record_stop(run: Storage, meta: dict[str, Any]) -> bool:
    """Record a run that stops before `harness.run.runner` recorded it `interrupted`; whether its
    metadata.json now says so (False: the storage refused the write)."""
    if meta.get("status") != "running":  # recorded by _execute itself
        return True
    try:
        finish(run, meta, "interrupted")
    except OSError:
        return False
    return True


def finish(run: Storage, meta: dict[str, Any], status: str) -> None:
    """Record the run's status; unchanged in `meta` too if the write fails, so that
    `meta["status"]` says what the file says."""
    before = meta["status"], meta["end_time"]
    meta["status"], meta["end_time"] = status, metadata.now()
    try:
        metadata.write(run, meta)
    except BaseException:
        meta["status"], meta["end_time"] = before
        raise
    if status == "finished":
        note_run(None)  # nothing left to resume: a late signal needs no hint


__all__ = ["finish", "record_stop", "recorded", "resumable"]
