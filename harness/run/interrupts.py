"""Ctrl-C and SIGTERM: stop the run at once but gracefully, and remember that it happened.

Tune catches SIGINT itself, stops its trials, saves its experiment state and returns from
`Tuner.fit()` as if nothing happened, and it marks the trials it stopped TERMINATED. A
driver that trusted that would record a truncated strategy as finished and go on to the next
one. So the driver owns the signals: the first SIGINT or SIGTERM sets `received` and, while
a Tuner is fitting, asks Tune for its graceful stop (Tune's SIGUSR1: the last experiment
snapshot is written, so `crossreg resume` continues from it); outside a fit it raises
KeyboardInterrupt. A second signal raises KeyboardInterrupt at once.

Once a stopped run has unwound (metadata recorded, lock released), the process still has to
shut Ray down at exit. A signal then (the impatient second Ctrl-C, or a scheduler's repeated
SIGTERM) used to kill the driver half-way through `ray.shutdown`, leaving Ray's agents
behind, or raise KeyboardInterrupt inside the atexit hook (a traceback). So after a stop the
driver keeps a last handler until it exits: it kills this driver's child processes (Ray's
services, agents and workers) and leaves at once with 130, saying so in one line. Once the
exit hook has shut Ray down (harness.run.session) nothing is left to stop, and a signal is
ignored to the exit.

Signals can only be handled on the main thread; elsewhere (a Ray task driving one Tuner in
`--concurrent` mode) `StopSignals` is inert and the driver's own thread handles them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Installed for the lifetime of one `crossreg run`/`resume`."""

    def __init__(self) -> None:
        self.received: int | None = None  # the first stop signal, if any
        self._fitting = False
        self._saved: dict[int, Any] = {}
        self._active = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # this handler decides, not Tune's
            for sig in HANDLED:
                self._saved[sig] = signal.signal(sig, self._handle)
            # until a fit installs Tune's own SIGUSR1 handler, a forwarded stop must not hit
            # the default action (terminate): the strategy then runs on and is judged by rows
            self._saved[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            self._active = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            for sig, handler in self._saved.items():
                # stopped, the process is on its way out: a further signal ends it now (set
                # in place of the saved handler, so no instant is left with the default)
                signal.signal(sig, _stop_now if self.stopped and sig in HANDLED else handler)
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
            self._active = False

    @property
    def stopped(self) -> bool:
        return self.received is not None

    @contextlib.contextmanager
    def fitting(self) -> Iterator[None]:
        """Around `Tuner.fit()`: a stop signal becomes Tune's graceful stop."""
        self._fitting = True
        try:
            yield
        finally:
            self._fitting = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None or not self._fitting:
            self.received = self.received or signum
            raise KeyboardInterrupt
        self.received = signum
        # Tune registers SIGUSR1 for its graceful stop during every fit (tune/tune.py)
        os.kill(os.getpid(), signal.SIGUSR1)


EXIT_INTERRUPTED = 130

#: the run directory this process drives, once it exists (`note_run`): what the resume hint
#: names, wherever a stop signal ends the process
_run_root: str | None = None


def note_run(run_root: str | None) -> None:
    """Remember the run directory this process drives (None: none, or it finished), so that
    every way a signal ends the process, a second signal's immediate exit included, tells the
    user how to continue it."""
    global _run_root
    _run_root = run_root


def noted_run() -> str | None:
    """The run directory `note_run` remembered, for a caller with its own resume command."""
    return _run_root


def resume_hint() -> str:
    """`; continue it with: crossreg resume DIR` for the noted run, else nothing."""
    return f"; continue it with: crossreg resume {_run_root}" if _run_root else ""


def _stop_now(signum: int, frame: FrameType | None) -> None:
    """A signal after the run was stopped and recorded: no unwinding left to do. It may come
    before the first stop's own message is printed, so it names the resume command too."""
    kill_children()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        print(f"crossreg: stopped at once{resume_hint()}", file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)


def kill_children(grace_s: float = 0.0) -> list[int]:
    """SIGKILL every process below this one (a local Ray's services, their agents and
    workers: they are the only children a driver starts), after giving them `grace_s`
    seconds to go by themselves; return the pids killed. Ray's own `ray.shutdown` stops
    the services it started, but the raylet's agents can outlive it by many seconds."""
    try:
        import psutil  # Ray's copy (ray/thirdparty_files), importable once ray is
    except ImportError:
        return []
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    if grace_s > 0:
        _, children = psutil.wait_procs(children, timeout=grace_s)
    killed = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
            killed.append(child.pid)
    return killed


__all__ = ["EXIT_INTERRUPTED", "StopSignals", "kill_children", "note_run", "noted_run", "resume_hint"]
