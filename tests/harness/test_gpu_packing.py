"""Fractional GPUs pack trials: on a Ray session that declares one (fake) GPU, four trials at
0.25 GPU each run at the same time (the synthetic trainable never touches a device)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.experiments import registry
from harness.run import runner

SYNTHETIC = "harness.testing:synthetic_train_fn"


@pytest.fixture(scope="module")
def fake_gpu_session(local_ray):
    with local_ray(num_cpus=4, num_gpus=1) as ray:
        yield ray


def _spans(tmp_path: Path, samples: int, cpus: float) -> list[tuple[float, float]]:
    """(start, end) of each trial of a random search at 0.25 GPU per trial, 1 s per epoch."""
    spec = registry.get("quick").replace(
        name=f"pack{samples}", epochs=2, n_train=120, seeds=1, strategies=("random",),
        random_samples=samples, gpus_per_trial=0.25, cpus_per_trial=cpus)
    run = Path(runner.start(spec, runner.RunOptions(
        storage=str(tmp_path), trainable=SYNTHETIC, verbose=0, echo=lambda s: None,
        extra_config={"sleep_s": 1.0})))
    spans = []
    for result in (run / "random-seed0").glob("*/result.json"):
        rows = [json.loads(line) for line in result.read_text().splitlines()]
        spans.append((min(r["timestamp"] - r["time_this_iter_s"] for r in rows),
                      max(r["timestamp"] for r in rows)))
    assert len(spans) == samples
    return spans


@pytest.mark.slow
def test_four_quarter_gpu_trials_run_at_once(fake_gpu_session, tmp_path):
    spans = _spans(tmp_path, samples=4, cpus=1.0)
    latest_start, earliest_end = max(s for s, _ in spans), min(e for _, e in spans)
    assert latest_start < earliest_end, spans  # one moment when all four were running


@pytest.mark.slow
def test_a_fifth_quarter_gpu_trial_waits(fake_gpu_session, tmp_path):
    """The check above is not a tautology: five trials at 0.25 GPU cannot all run at once
    (CPUs to spare: 0.5 each)."""
    spans = _spans(tmp_path, samples=5, cpus=0.5)
    assert max(s for s, _ in spans) >= min(e for _, e in spans) - 0.5, spans
