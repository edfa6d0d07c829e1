"""What a person sees while a run goes: Ray's chatter off, one line per (strategy, seed).

Ray Tune prints a configuration box and status tables per experiment, every worker forwards
a "Checkpoint successfully created" line per epoch, and Tune warns about experiment-state
snapshots dozens of times: thousands of lines for the quick job. By default the harness turns
all of that off (Tune's old reporter at verbosity 0, worker logs not forwarded, Ray's loggers
at WARNING, the snapshot warning's threshold at 0) and prints its own progress instead: a
line when each (strategy, seed) starts and one when it ends, with trials ended / expected,
epochs, the elapsed time and an ETA for the whole run. `--verbose` gives Ray's output back.

Plain lines rather than a live progress bar: runs go to log files (SLURM, `ray job logs`)
as often as to terminals, and a line per event reads the same in both.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Tune's settings that silence it (read when each Tuner fits).
QUIET_ENV = {
    "RAY_AIR_NEW_OUTPUT": "0",  # the old reporter honours verbose=0; the new one prints boxes
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_DEDUP_LOGS": "0",
}
RAY_LOGGERS = ("ray", "ray.tune", "ray.train", "ray.air")


class DropTunesResumeHint(logging.Filter):
    """Tune's warning on an interrupt, "Resume experiment with: Tuner.restore(...)": it names
    one strategy's Tuner, while the harness's own hint (`crossreg resume DIR`) resumes the
    whole run, every strategy and seed."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tuner.restore(" not in record.getMessage()


class DropCheckpointBookkeepingError(logging.Filter):
    """Tune's "Trial ...: Error handling checkpoint ..." (an ERROR with a traceback, logged
    by its controller when it cannot register a trial's reported checkpoint), seen in
    default resumes of interrupted runs. The harness does not act on Tune's bookkeeping of
    checkpoints: a (strategy, seed) is judged complete by its rows, and an epoch trained
    again from an earlier checkpoint is counted in rerun.json, so the traceback tells a user
    nothing to do; a storage that stopped taking writes is reported by the harness itself, in
    one line naming the path. `--verbose` keeps it (no filter then)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Error handling checkpoint" not in str(record.msg)


#: the logger of Tune's controller, which reports checkpoint errors
TUNE_CONTROLLER_LOGGER = "ray.tune.execution.tune_controller"

#: errnos of a storage that stopped taking writes
STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT)


class StorageFaultWithoutTraceback(logging.Filter):
    """A Ray log record caused by a storage write error (Tune's "Saving experiment state
    ... failed") keeps its line but loses its traceback: the harness stops the run and
    names the path and the cause in one line of its own (harness.runner); the tracebacks
    of every writer that met the fault first only bury it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, OSError) and (error.errno in STORAGE_ERRNOS or any(
                f"[errno {n}]" in str(error) for n in STORAGE_ERRNOS)):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_ray(verbose: bool) -> dict[str, Any]:
    """Silence Ray in this process unless `verbose`; return the `ray.init` arguments that
    go with it (worker logs forwarded or not)."""
    if verbose:
        return {"log_to_driver": True}
    os.environ.update(QUIET_ENV)
    for name in RAY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # information, not warnings, for our users: the token notice of a local session, and
    # Tune's note that a restarted trial has no progress.csv in storage yet
    for name in ("ray._private.authentication", "ray.tune.logger"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for handler in logging.getLogger("ray").handlers:
        if not any(isinstance(f, StorageFaultWithoutTraceback) for f in handler.filters):
            handler.addFilter(StorageFaultWithoutTraceback())
    tune_logger = logging.getLogger("ray.tune.tune")
    if not any(isinstance(f, DropTunesResumeHint) for f in tune_logger.filters):
        tune_logger.addFilter(DropTunesResumeHint())
    controller = logging.getLogger(TUNE_CONTROLLER_LOGGER)
    if not any(isinstance(f, DropCheckpointBookkeepingError) for f in controller.filters):
        controller.addFilter(DropCheckpointBookkeepingError())
    return {"log_to_driver": False, "logging_level": logging.WARNING}


def duration(seconds: float) -> str:
    """`1:02:03` or `2:03`."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class Progress:
    """The run's progress lines; work is counted in trial-epochs (an ASHA trial counts its
    full epochs: the ETA errs on the long side)."""

    items: Sequence[tuple[str, float]]  # (strategy-seed name, trial-epochs it will take)
    echo: Callable[[str], None] = print
    started: float = field(default_factory=lambda: time.perf_counter())
    _done_units: float = 0.0
    _done: int = 0

    def __post_init__(self) -> None:
        self._units = dict(self.items)
        self._total = sum(self._units.values())
        self._index = {name: i for i, (name, _) in enumerate(self.items, 1)}

    def _tag(self, name: str) -> str:
        width = len(str(len(self.items)))
        return f"[{self._index[name]:>{width}}/{len(self.items)}] {name}"

    def eta(self) -> str:
        if self._done_units <= 0:
            return "ETA --"
        elapsed = time.perf_counter() - self.started
        remaining = max(self._total - self._done_units, 0.0)
        return f"ETA {duration(elapsed * remaining / self._done_units)}"

    def start(self, name: str, note: str = "") -> None:
        extra = f" ({note})" if note else ""
        self.echo(f"{self._tag(name)} started{extra} · elapsed "
                  f"{duration(time.perf_counter() - self.started)}")

    def end(self, name: str, status: str, detail: str) -> None:
        self._done += 1
        self._done_units += self._units.get(name, 0.0)
        self.echo(f"{self._tag(name)} {status}: {detail} · elapsed "
                  f"{duration(time.perf_counter() - self.started)} · {self.eta()}")


__all__ = ["QUIET_ENV", "TUNE_CONTROLLER_LOGGER", "DropCheckpointBookkeepingError", "DropTunesResumeHint",
           "Progress", "StorageFaultWithoutTraceback", "duration", "quiet_ray"]
