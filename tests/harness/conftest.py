"""Shared fixtures: one Ray session per test module (ray.init costs 4-8 s here), and drivers
in subprocesses that a test can interrupt (tests/harness/interrupting.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from interrupting import Driver, launch


@pytest.fixture(scope="module")
def ray_session(local_ray):
    with local_ray(num_cpus=2) as ray:
        yield ray


@pytest.fixture
def start_driver(tmp_path: Path) -> Iterator[Callable[..., Driver]]:
    drivers: list[Driver] = []

    def start(strategies: str, epochs: int = 6, sleep_s: float = 0.3) -> Driver:
        drivers.append(launch(tmp_path / f"runs{len(drivers)}", strategies, epochs, sleep_s))
        return drivers[-1]

    yield start
    for d in drivers:
        if d.proc.poll() is None:
            d.kill()
