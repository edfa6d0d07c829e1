"""What a person sees while a run goes: Ray's chatter off, one line per (strategy, seed).

Ray Tune prints a configuration box and status tables per experiment, every worker forwards
a "Checkpoint successfully created" line per epoch, and Tune warns about experiment-state
snapshots dozens of times: thousands of lines for the quick job. By default the harness turns
all of that off (Tune's old reporter at verbosity 0, worker logs not forwarded, Ray's loggers
at WARNING, the snapshot warning's threshold at 0) and prints its own progress instead: a
line when each (strategy, seed) starts and one when it ends, with trials ended / expected,
epochs, the elapsed time and an ETA for the whole run, and between those, every few seconds
while anything runs, a status line of the trial-epochs each running unit has written
(harness.run.heartbeat), so one long strategy is not silence and the ETA moves with the epochs.
`--verbose` gives Ray's output back.

Plain lines rather than a live progress bar: runs go to log files (SLURM, `ray job logs`)
as often as to terminals, and a line per event reads the same in both.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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
    names the path and the cause in one line of its own (harness.run.runner); the tracebacks
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
    full epochs: the ETA errs on the long side). Thread-safe: the heartbeat reports the
    running units' epochs from a thread of its own. ``earlier``: the trial-epochs each unit
    had written before this driver started (a resume), done but not in this driver's time,
    so the rate the ETA extrapolates is this driver's own."""

    items: Sequence[tuple[str, float]]  # (strategy-seed name, trial-epochs it will take)
    echo: Callable[[str], None] = print
    started: float = field(default_factory=lambda: time.perf_counter())
    earlier: Mapping[str, float] = field(default_factory=dict)
    _done_units: float = 0.0

    def __post_init__(self) -> None:
        self._units = dict(self.items)
        self._total = sum(self._units.values())
        self._index = {name: i for i, (name, _) in enumerate(self.items, 1)}
        self._running: dict[str, float] = {}  # started, not ended: trial-epochs written so far
        self._begun: set[str] = set()  # started, running or ended
        self._lock = threading.Lock()

    def _tag(self, name: str) -> str:
        width = len(str(len(self.items)))
        return f"[{self._index[name]:>{width}}/{len(self.items)}] {name}"

    def eta(self) -> str:
        """From this driver's rate: the ended units' trial-epochs and the running units'
        written ones (each capped at its unit's size), less what the begun units had written
        before (`earlier`), over the elapsed time."""
        def before(n: str) -> float:
            return min(self.earlier.get(n, 0.0), self._units.get(n, 0.0))

        # a running unit has done at least what it had before it began (a resume)
        done = self._done_units + sum(max(min(e, self._units.get(n, e)), before(n))
                                      for n, e in self._running.items())
        ours = done - sum(before(n) for n in self._begun)
        if ours <= 0:
            return "ETA --"
        elapsed = time.perf_counter() - self.started
        remaining = max(self._total - done, 0.0)
        return f"ETA {duration(elapsed * remaining / ours)}"

    def _elapsed(self) -> str:
        return f"elapsed {duration(time.perf_counter() - self.started)}"

    def start(self, name: str, note: str = "") -> None:
        extra = f" ({note})" if note else ""
        with self._lock:
            self._running[name] = 0.0
            self._begun.add(name)
            self.echo(f"{self._tag(name)} started{extra} · {self._elapsed()}")

    def end(self, name: str, status: str, detail: str) -> None:
        with self._lock:
            self._running.pop(name, None)
            self._begun.add(name)
            self._done_units += self._units.get(name, 0.0)
            self.echo(f"{self._tag(name)} {status}: {detail} · {self._elapsed()} · {self.eta()}")

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def update(self, name: str, trial_epochs: float) -> None:
        """The trial-epochs unit `name` has written so far (a unit that ended is ignored)."""
        with self._lock:
            if name in self._running:
                self._running[name] = trial_epochs

    def status(self, shown: int = 3) -> str:
        """`... 2 running: pbt-seed0 24/80, cross_reg-seed1 10/60 trial-epochs; 1 waiting:
        asha-seed3 · elapsed 1:10 · ETA 4:20`; empty when nothing runs. A unit that has
        written no epoch since this driver started it is waiting (for a free CPU, while the
        others hold them, or for its processes to start), not running at 0."""
        def listed(items: list[str]) -> str:
            more = len(items) - shown
            return ", ".join(items[:shown]) + (f", +{more} more" if more > 0 else "")

        with self._lock:
            if not self._running:
                return ""
            active = [f"{n} {e:.0f}/{self._units.get(n, 0):.0f}" for n, e in self._running.items()
                      if e > self.earlier.get(n, 0.0)]
            waiting = [n for n, e in self._running.items() if e <= self.earlier.get(n, 0.0)]
            parts = ([f"{len(active)} running: {listed(active)} trial-epochs"] if active else [])
            parts += [f"{len(waiting)} waiting: {listed(waiting)}"] if waiting else []
            return f"... {'; '.join(parts)} · {self._elapsed()} · {self.eta()}"


__all__ = ["QUIET_ENV", "TUNE_CONTROLLER_LOGGER", "DropCheckpointBookkeepingError", "DropTunesResumeHint",
           "Progress", "StorageFaultWithoutTraceback", "duration", "quiet_ray"]
