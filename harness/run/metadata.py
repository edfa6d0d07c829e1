"""`metadata.json` of an experiment run: what ran, with which code, and how far it got.

It is written before the first trial (status `running`) and rewritten after each
(strategy, seed) finishes, so that `crossreg resume` knows what is done and a reader can
always tell a finished experiment from an interrupted one. Keys (docs/contract.md): spec,
seeds, strategies, versions, git commit (null outside a git checkout), status, start/end time;
plus `completed` (per Tune experiment name: finished or errored), `driver_seconds` (per Tune
experiment name: seconds the driver spent fitting it, summed over the run and its resumes)
and `trainable`.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.run.storage import Storage

FILE = "metadata.json"
PACKAGES = ("crossreg-harness", "ray", "torch", "numpy", "pandas", "pyarrow", "scikit-learn")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def stamped(name: str) -> str:
    """A new directory's name: `name` and the UTC time to the millisecond (a run's, a
    suite's), so that two started one after another never share one."""
    return f"{name}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S-%f')[:-3]}"


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> str | None:
    """The commit of the checkout this package runs from, or None (installed from a wheel,
    no git, or a job's working-dir copy without .git)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def new(spec: dict[str, Any], seeds: list[int], strategies: list[str], trainable: str,
        address: str | None) -> dict[str, Any]:
    return {
        "experiment": spec["name"],
        "spec": spec,
        "seeds": seeds,
        "strategies": strategies,
        "trainable": trainable,
        "address": address,
        "versions": versions(),
        "git_commit": git_commit(),
        "argv": sys.argv,
        "status": "running",
        "start_time": now(),
        "end_time": None,
        "completed": {},
        "driver_seconds": {},
    }


#: what `resume` needs, with the type each must have
REQUIRED = {"spec": dict, "seeds": list, "strategies": list, "trainable": str,
            "completed": dict, "status": str}


def read(run: Storage) -> dict[str, Any]:
    """The run's metadata; a damaged or incomplete file is the user's input, named in one
    HarnessError."""
    where = f"{run.root}/{FILE}"
    try:
        meta = json.loads(run.read_text(FILE))
    except UnicodeDecodeError:
        raise HarnessError(f"{where} is not UTF-8 text; not a crossreg run") from None
    except ValueError as e:  # JSONDecodeError
        raise HarnessError(f"{where} is not valid JSON ({e}); "
                           "restore it or start the experiment again") from None
    if not isinstance(meta, dict) or "spec" not in meta:
        raise HarnessError(f"{where} has no experiment spec; not a crossreg run")
    bad = [f"{key} ({kind.__name__})" for key, kind in REQUIRED.items()
           if not isinstance(meta.get(key), kind)]
    if bad:
        raise HarnessError(f"{where} lacks or garbles {', '.join(bad)}; restore it or start "
                           "the experiment again")
    meta.setdefault("driver_seconds", {})
    return meta


def write(run: Storage, meta: dict[str, Any]) -> None:
    run.write_text(FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")


__all__ = ["FILE", "REQUIRED", "git_commit", "new", "now", "read", "stamped", "versions", "write"]
