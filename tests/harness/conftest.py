"""Shared fixtures: one Ray session per test module (ray.init costs 4-8 s here)."""

from __future__ import annotations

import pytest



@pytest.fixture(scope="module")
def ray_session():
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
