"""Settings for the whole test suite.

`local_ray`: a Ray session of a test process's own (one place for what every test session needs).

The suite runs in three pytest-xdist processes on a two-core machine (README). Torch's
default of one intra-op thread per core in each of them oversubscribes the cores: the family
tests took 50 CPU-seconds with two threads and 32 with one, in the same wall time. One thread
per test process (and per driver it starts) is what Ray gives each one-CPU trial anyway, so
this changes where the time goes, not what is computed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported before this file (a plugin): set it directly
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# Ray starts a worker per CPU for the first driver of a session, before anything asks. A
# test's session mostly leaves them unused: a Tuner fitted in the test process, or a run of
# one unit, which its driver runs itself. Idle, each cost ~0.25 CPU-s of start-up (63 of one
# CI run's 335 workers ran nothing). Workers a session does use start when asked, as always.
os.environ.setdefault("RAY_prestart_worker_first_driver", "0")

#: The longest test modules, longest first (seconds in one full run with the README's three
#: processes on the idle 2-core machine, 2026-12-07). pytest-xdist (`--dist loadfile
#: --no-loadscope-reorder`) hands modules to its processes in collection order; a long module
#: handed out last runs alone at the end while the other processes idle (the registered-
#: experiment module once kept one busy for minutes). Longest first, the short modules fill
#: in beside them. A module missing here only runs in its usual place.
SLOWEST_FIRST = (
    "tests/harness/test_interrupt.py",  # 310
    "tests/harness/test_strategies.py",  # 215
    "tests/harness/test_signals.py",  # 140
    "tests/harness/test_suite.py",  # 140
    "tests/harness/test_user_extensions.py",  # 115
    "tests/harness/test_registered_experiments.py",  # 110
    "tests/harness/test_exact_resume.py",  # 100 (every registered strategy)
    "tests/harness/test_fair_protocol.py",  # 95
    "tests/test_readme.py",  # 95 (two runs of the README's own example)
    "tests/harness/test_faults.py",  # 85
    "tests/harness/test_sweep_command.py",  # 75
    "tests/harness/test_resume.py",  # 70
    "tests/harness/test_single_run_rivals.py",  # 60
    "tests/harness/test_job_submit.py",  # 50
    "tests/trainables/test_predictions_file.py",  # 40
    "tests/harness/test_distributed.py",  # 35
    "tests/harness/test_deep_ensemble.py",  # 35
    "tests/harness/test_own_tuner.py",  # 30
)


def pytest_collection_modifyitems(config, items) -> None:
    root = config.rootpath
    rank = {root / module: i for i, module in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))  # stable: the rest keep order


@pytest.fixture(scope="session")
def local_ray() -> Callable[..., contextlib.AbstractContextManager[Any]]:
    """``with local_ray(num_cpus=2) as ray:`` a new Ray session declaring those resources,
    shut down on exit. ``address="local"``: a bare ray.init() joins any cluster running on the
    machine (the other test process's `ray start` head or two-node cluster) and then refuses
    the resources. Skips where Ray is not installed (the GPU machine)."""

    @contextlib.contextmanager
    def session(**resources: Any) -> Iterator[Any]:
        ray = pytest.importorskip("ray")
        if ray.is_initialized():
            ray.shutdown()
        ray.init(address="local", include_dashboard=False, log_to_driver=False, **resources)
        try:
            yield ray
        finally:
            ray.shutdown()

    return session
