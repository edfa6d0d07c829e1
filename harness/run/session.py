"""The Ray session a run drives: which cluster, proven reachable in seconds, and big enough.

`ray.init(address=...)` retries for minutes when the address is wrong, and a port that is
open but is not a Ray GCS (a web server, a database) makes it hang just as long. So an
address is probed first: a TCP connection, then a gRPC (HTTP/2) handshake, which every Ray
GCS and Ray Client server completes and other servers do not. `RAY_ADDRESS` (what
`ray job submit` sets for its entrypoint) counts as `--address`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

from harness.errors import HarnessError

PROBE_TIMEOUT_S = 5.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_REAPERS: list[subprocess.Popen[bytes]] = []


def resolve_address(address: str | None) -> str | None:
    """The cluster to join: `--address`, else `RAY_ADDRESS`, else None (a local session)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def address_source(flag: str | None) -> str:
    """Where the address came from, for messages: `--address`, else `RAY_ADDRESS` (a
    garbage environment variable reported as `--address` sent users hunting for a flag
    they never passed)."""
    return "--address" if flag else "RAY_ADDRESS"


def probe(address: str, source: str = "--address") -> None:
    """Fail within seconds unless `address` (given by `source`) is a Ray GCS or Ray Client
    server.

    `auto` is left to `ray.init`, which finds a local cluster or fails at once.
    """
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise HarnessError(f"{source} {address!r}: expected host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as e:
        raise HarnessError(f"cannot reach a Ray cluster at {address} ({source}): "
                           f"{e.strerror or e}") from None
    if not _speaks_grpc(f"{host}:{port}"):
        raise HarnessError(f"{address} ({source}) accepts connections but is not a Ray cluster (no gRPC "
                           f"answer within {PROBE_TIMEOUT_S:g} s); check the host and port")


def _speaks_grpc(target: str) -> bool:
    import grpc  # a dependency of Ray itself

    channel = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=PROBE_TIMEOUT_S)
        return True
    except grpc.FutureTimeoutError:
        return False
    finally:
        channel.close()


def connect(address: str | None, verbose: bool = False) -> None:
    """Join the running session (tests), the cluster at `address`, or start a local one
    sized to this machine; Ray's own output only if `verbose` (harness.run.console)."""
    import ray

    from harness.run.console import quiet_ray

    output = quiet_ray(verbose)
    if ray.is_initialized():
        return
    try:
        with _keeping_stop_handlers():
            if address:
                ray.init(address=address, **output)
            else:  # "local": never attach to a cluster that `ray start` left on this machine
                with _ray_outside_our_process_group():
                    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                             **output)
                _shut_down_at_exit()
    except (ConnectionError, TimeoutError) as e:
        raise HarnessError(f"cannot reach a Ray cluster at {address}: {e}") from None


@contextlib.contextmanager
def _keeping_stop_handlers() -> Iterator[None]:
    """Around `ray.init`: the driver's SIGINT and SIGTERM handlers (harness.run.interrupts) are
    put back afterwards. `ray.init` sets SIGTERM to `sys.exit(15)`, and its core worker
    installs a C-level crash handler for SIGTERM that dumps a stack and aborts (-6): either
    way a SLURM or Kubernetes stop would skip Tune's graceful stop, the `interrupted`
    record and the resume hint."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:  # None: a handler not installed from Python
                signal.signal(sig, handler)


@contextlib.contextmanager
def _ray_outside_our_process_group() -> Iterator[None]:
    """Around a local `ray.init`: the processes it starts (GCS, raylet and, through the
    raylet, its agents) lead process groups of their own instead of joining the driver's.

    SLURM, Kubernetes and a shell's `kill -TERM -PGID` signal the driver's whole process
    group. Ray's services block SIGINT but not SIGTERM, so a group SIGTERM killed the raylet
    under the driver, whose core worker then aborted (-6) before Tune could stop gracefully.
    Out of the group, the driver alone receives the signal, stops Tune, and its exit takes
    the services down (`ray.shutdown` at exit; the kernel's parent-death signal, which Ray
    sets where this is done, if the driver is killed). Ray itself does the same on Windows
    (`services.ConsolePopen`: a new process group where the kernel shares fates); where it
    does not (no parent-death signal) the services stay in the group, for Ray's reaper.
    Their group is led by a reaper of this driver's own (below)."""
    import ray._private.services as services
    import ray._private.utils as ray_utils

    if not sys.platform.startswith("linux") or not ray_utils.detect_fate_sharing_support():
        yield
        return
    original = services.ConsolePopen
    # One group for all of them, led by Ray's own reaper: it reads a pipe from this driver
    # and, at EOF (the driver gone, however it died, SIGKILL included), kills its group.
    # Without it a SIGKILLed driver's raylet died (parent-death signal) but its agents,
    # which have none, lived on.
    reaper = subprocess.Popen(
        [sys.executable, "-u", os.path.join(os.path.dirname(services.__file__),
                                            "ray_process_reaper.py")],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=os.setpgrp)  # a process group of its own, led by it
    _REAPERS.append(reaper)  # its pipe stays open for as long as this driver lives

    class OwnGroupPopen(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("process_group", reaper.pid)
            super().__init__(*args, **kwargs)

    services.ConsolePopen = OwnGroupPopen  # type: ignore[misc]
    try:
        yield
    finally:
        services.ConsolePopen = original  # type: ignore[misc]


def _shut_down_at_exit() -> None:
    """Make sure the local Ray this driver started is gone when it exits, agents included.

    `ray.shutdown` (Ray's own exit hook) stops the GCS, the raylet and the monitors it
    started, but the raylet's dashboard and runtime-env agents outlived it by more than ten
    seconds after an interrupted run (they notice their raylet's death on a slow poll). This
    hook runs before Ray's (exit hooks run last-registered first): it notes every process
    under the ones `ray.init` started, shuts Ray down, gives them two seconds, then kills
    whatever is left of them. Processes the driver started otherwise are not touched.

    `ray.shutdown` resets SIGTERM to its default action in C (the core worker uninstalls
    its crash handler) while Python still lists the driver's handler: a second SIGTERM in
    the seconds left before exit killed the driver (-15) instead of ending it with 130. So
    the driver's handlers are put back after it, as after `ray.init`, and ignored once the
    services are gone (the first stop's message and record are long written by then)."""
    import atexit

    import psutil  # Ray's copy, importable once ray is

    try:
        services = psutil.Process().children(recursive=False)
    except psutil.Error:
        return

    def shut_down() -> None:
        import ray

        tree = list(services)
        for p in services:
            with contextlib.suppress(psutil.Error):
                tree += p.children(recursive=True)
        with contextlib.suppress(Exception), _keeping_stop_handlers():
            ray.shutdown()
        with contextlib.suppress(psutil.Error):
            _, alive = psutil.wait_procs(tree, timeout=2.0)
            for p in alive:
                with contextlib.suppress(psutil.Error):
                    p.kill()
        # nothing is left to stop, and Python sets its handlers back to the default as it
        # finalizes: a signal from here to the exit would turn the exit status into a kill
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)

    atexit.register(shut_down)


def check_resources(cpus_per_trial: float, gpus_per_trial: float, address: str | None) -> None:
    """Refuse a trial that can never be placed in a local session (Tune would wait forever:
    `--gpus-per-trial` on a machine without a GPU). On a cluster nodes may still be added by
    the autoscaler, so nothing is refused there."""
    import ray

    if address:
        return
    total = ray.cluster_resources()
    for key, need, field in (("GPU", gpus_per_trial, "gpus_per_trial"),
                             ("CPU", cpus_per_trial, "cpus_per_trial")):
        have = total.get(key, 0.0)
        if need > have:
            raise HarnessError(f"{field}={need:g}: this Ray session has {have:g} {key}s, so no "
                               f"trial could ever start; lower it or pass --address of a cluster")


__all__ = ["PROBE_TIMEOUT_S", "address_source", "check_resources", "connect", "probe", "resolve_address"]
