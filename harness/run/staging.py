"""Tuners of one name start at least two seconds apart on a machine.

Ray Tune (2.60) stages a driver's files in `<ray session>/artifacts/<second the Tuner
started>/<experiment name>/` before it syncs them to the storage path. Two Tuners of the same
name started within one second in one Ray session share that folder, and each copies the
other's trials into its own run (seen: three registered experiments' smoke runs started
together in one session; one run's table then had a second `cross_reg` row, the other
experiment's). Every run names its Tune experiments `<strategy>-seed<k>`, so several runs
started together against one session (a script launching `crossreg run` for each experiment,
runs driven from threads) would collide. Each Tuner therefore waits for its name's turn:
a per-user lock file per name in the temporary directory holds the time of its last start.
"""

from __future__ import annotations

import getpass
import os
import tempfile
import time
from pathlib import Path

from filelock import FileLock

#: Spacing between two starts of one name; Tune reads the clock just after `fit` begins.
SPACING_S = 2.0


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's user id may have no passwd entry (KubeRay pods)
        return str(os.getuid())


def _folder() -> Path:
    folder = Path(tempfile.gettempdir(), f"crossreg-tune-starts-{_user()}")
    folder.mkdir(exist_ok=True)
    return folder


def wait_for_turn(name: str) -> None:
    """Return once no Tuner named `name` has started on this machine in the last
    `SPACING_S` seconds, and record this start."""
    folder = _folder()
    stamp = folder / f"{name}.last"
    with FileLock(str(folder / f"{name}.lock")):
        try:
            last = float(stamp.read_text())
        except (OSError, ValueError):
            last = 0.0
        wait = last + SPACING_S - time.time()
        if wait > 0:
            time.sleep(min(wait, SPACING_S))
        stamp.write_text(repr(time.time()))
