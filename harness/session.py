"""The Ray session a run drives: which cluster, proven reachable in seconds, and big enough.

`ray.init(address=...)` retries for minutes when the address is wrong, and a port that is
open but is not a Ray GCS (a web server, a database) makes it hang just as long. So an
address is probed first: a TCP connection, then a gRPC (HTTP/2) handshake, which every Ray
GCS and Ray Client server completes and other servers do not. `RAY_ADDRESS` (what
`ray job submit` sets for its entrypoint) counts as `--address`.
"""

from __future__ import annotations

import os
import socket

from harness.errors import HarnessError

PROBE_TIMEOUT_S = 5.0


def resolve_address(address: str | None) -> str | None:
    """The cluster to join: `--address`, else `RAY_ADDRESS`, else None (a local session)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def probe(address: str) -> None:
    """Fail within seconds unless `address` is a Ray GCS or Ray Client server.

    `auto` is left to `ray.init`, which finds a local cluster or fails at once.
    """
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise HarnessError(f"--address {address!r}: expected host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as e:
        raise HarnessError(f"cannot reach a Ray cluster at {address}: {e.strerror or e}") from None
    if not _speaks_grpc(f"{host}:{port}"):
        raise HarnessError(f"{address} accepts connections but is not a Ray cluster (no gRPC "
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
    sized to this machine; Ray's own output only if `verbose` (harness.console)."""
    import ray

    from harness.console import quiet_ray

    output = quiet_ray(verbose)
    if ray.is_initialized():
        return
    try:
        if address:
            ray.init(address=address, **output)
        else:  # "local": never attach to a cluster that `ray start` left on this machine
            ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, **output)
    except (ConnectionError, TimeoutError) as e:
        raise HarnessError(f"cannot reach a Ray cluster at {address}: {e}") from None


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


__all__ = ["PROBE_TIMEOUT_S", "check_resources", "connect", "probe", "resolve_address"]
