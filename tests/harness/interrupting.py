"""A driver in a subprocess that a test can interrupt the way a terminal does, and helpers
to read what it left behind (imported by conftest.py and the tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SYNTHETIC = "harness.testing:synthetic_train_fn"

# A run of the synthetic trainable (microseconds per epoch plus `sleep_s`), small enough to
# interrupt at a chosen moment; argv: storage, strategies (comma-separated), epochs, sleep_s.
DRIVER = f"""
import sys
from harness.experiments import registry
from harness.run import runner
from harness.errors import HarnessError
storage, strategies, epochs, sleep_s = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), float(sys.argv[4])
spec = registry.get("quick").replace(
    name="drv", epochs=epochs, n_train=120, batch_size=32, reg_batch_size=16, seeds=1,
    strategies=tuple(strategies), pbt_population=2, pbt_interval=2, asha_samples=6,
    asha_grace_period=1, asha_reduction_factor=3, grid_values=(0.01, 0.1, 1.0), cv_folds=2)
try:
    runner.start(spec, runner.RunOptions(storage=storage, trainable="{SYNTHETIC}", verbose=0,
                                         extra_config={{"sleep_s": sleep_s}}))
except HarnessError as e:  # as the CLI does: Interrupted -> 130
    sys.exit(e.exit_code)
"""


def read_trials(exp: Path) -> dict[str, list[dict]]:
    """Rows of every trial directory of one Tune experiment, by directory name."""
    out = {}
    for d in sorted(exp.iterdir()) if exp.is_dir() else []:
        f = d / "result.json"
        if f.exists():
            rows = []
            for line in f.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
            out[d.name] = rows
    return out


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Driver:
    """A `runner.start` in its own process group, as a terminal would run it."""

    proc: subprocess.Popen
    storage: Path

    def run_dir(self) -> Path | None:
        return next(self.storage.glob("drv-*"), None)

    def experiment(self, name: str) -> Path | None:
        run = self.run_dir()
        return None if run is None else run / name

    def interrupt(self, sig: int = signal.SIGINT, timeout: float = 120) -> int:
        """Send `sig` to the whole process group (what Ctrl-C does) and wait for the exit."""
        os.killpg(self.proc.pid, sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def launch(storage: Path, strategies: str, epochs: int = 6, sleep_s: float = 0.3) -> Driver:
    """Start `DRIVER` on `storage` in a process group of its own, as a terminal would."""
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(storage), strategies, str(epochs), str(sleep_s)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Driver(proc, storage)
