"""One driver per run directory: `run` and `resume` hold the run's lock while they drive it.

Two drivers on one run directory delete each other's unfinished Tune experiments and count
their trials twice, so the second one is refused with one line naming the first (pid and
host). On a local or NFS path the lock is an OS file lock (`filelock`), which the kernel
releases when its process dies: a killed driver leaves nothing that blocks the next `resume`,
which says whose lock it took over. Object stores (s3://, gs://) have no locks, so there the
lock is a lease: a holder record whose heartbeat the driver refreshes while it runs, taken
over once it is older than `LEASE_S` (best effort: two drivers starting in the same second
can both win; start one at a time).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

from harness.errors import HarnessError
from harness.run.storage import Storage, is_uri

LOCK_FILE = ".driver.lock"
HOLDER_FILE = ".driver.json"
LEASE_S = 120.0
HEARTBEAT_S = 30.0


class RunLocked(HarnessError):
    """Another driver holds this run directory."""


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
            "heartbeat": time.time()}


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another driver"
    return f"pid {holder.get('pid')} on {holder.get('host')}"


class RunLock:
    """The lock of one run directory; use as a context manager around driving it."""

    def __init__(self, run: Storage) -> None:
        self.run = run
        self.took_over: dict[str, Any] | None = None  # the previous holder, if it had died
        self._file_lock: Any = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def _holder(self) -> dict[str, Any] | None:
        try:
            holder = json.loads(self.run.read_text(HOLDER_FILE))
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None

    def acquire(self) -> RunLock:
        previous = self._holder()
        if is_uri(self.run.root):
            self._acquire_lease(previous)
        else:
            self._acquire_file_lock(previous)
        if previous and previous.get("pid") != os.getpid():
            self.took_over = previous
        self.run.write_text(HOLDER_FILE, json.dumps(_me()))
        if is_uri(self.run.root):
            self._heartbeat = threading.Thread(target=self._beat, daemon=True,
                                               name="crossreg-lease")
            self._heartbeat.start()
        return self

    def _acquire_file_lock(self, previous: dict[str, Any] | None) -> None:
        import filelock

        lock = filelock.FileLock(os.path.join(self.run.root, LOCK_FILE), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise RunLocked(f"{self.run.root} is being driven by {_describe(previous)}; "
                            "wait for it to finish or stop it first") from None
        self._file_lock = lock

    def _acquire_lease(self, previous: dict[str, Any] | None) -> None:
        if previous and time.time() - float(previous.get("heartbeat", 0)) < LEASE_S:
            raise RunLocked(f"{self.run.root} is being driven by {_describe(previous)} (its "
                            f"lease was renewed in the last {LEASE_S:g} s); wait for it to "
                            "finish or stop it first")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            record = {**_me(), "since": (self._holder() or {}).get("since", time.time())}
            try:
                self.run.write_text(HOLDER_FILE, json.dumps(record))
            except OSError:
                pass  # the next beat retries; a lapsed lease only lets a later driver in

    def release(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        try:
            self.run.delete_file(HOLDER_FILE)
        except OSError:
            pass
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


__all__ = ["HOLDER_FILE", "LOCK_FILE", "RunLock", "RunLocked"]
