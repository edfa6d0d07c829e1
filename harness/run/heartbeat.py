"""Progress between a unit's start and its end: the epochs the running units have written.

Every `interval` seconds while a run goes, a thread counts each running (strategy, seed)'s
trial-epochs from its result files (one line per reported epoch, in the run directory that
the units write to, side by side or not, locally or on a storage URI) and prints the
`Progress.status` line when a count moved. It reads files rather than listening to Tune,
because side by side each unit's Tuner runs in a Ray task of its own, not in the driver.
A read that fails (a file being created, a storage hiccup) skips that beat: progress is
never worth failing a run for.
"""

from __future__ import annotations

import posixpath
import threading
from types import TracebackType

from harness.run.console import Progress
from harness.run.results_io import RESULT_FILE, trial_dirs
from harness.run.storage import Storage

#: seconds between status lines: often enough that a long unit is not silence, rare enough
#: that a day-long run's log stays readable (~2,900 lines a day at most)
DEFAULT_INTERVAL_S = 30.0


def trial_epochs(experiment: Storage) -> int:
    """The epochs every trial of one Tune experiment has reported so far."""
    if not experiment.exists():
        return 0
    total = 0
    for trial in trial_dirs(experiment):
        path = posixpath.join(trial, RESULT_FILE)
        if experiment.exists(path):
            total += experiment.read_text(path).count("\n")
    return total


class Heartbeat:
    """`with Heartbeat(run, progress, interval):` status lines while the block runs."""

    def __init__(self, run: Storage, progress: Progress, interval: float = DEFAULT_INTERVAL_S):
        self.run, self.progress, self.interval = run, progress, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="crossreg-heartbeat", daemon=True)
        self._last = ""

    def __enter__(self) -> Heartbeat:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        """Count the running units' epochs; print the status line if a count moved."""
        counts = {}
        for name in self.progress.running():
            try:
                counts[name] = trial_epochs(self.run.child(name))
            except (OSError, UnicodeDecodeError):
                return
        for name, epochs in counts.items():
            self.progress.update(name, epochs)
        key = repr(sorted(counts.items()))
        if counts and key != self._last and any(counts.values()):
            self._last = key
            line = self.progress.status()
            if line and not self._stop.is_set():
                self.progress.echo(line)


__all__ = ["DEFAULT_INTERVAL_S", "Heartbeat", "trial_epochs"]
