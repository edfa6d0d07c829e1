"""device_seconds = train_seconds x the share of the device the trial held: given in the
config (``device_share``), or filled in by ``train_fn`` from the resources Ray gave the trial
(its GPUs, else its CPUs over the node's), here on a Ray session that declares a fake GPU."""

from __future__ import annotations

import pytest

from trainables import ConfigError, run_trial

SMALL = {"dataset": "digits", "n_train": 120, "model": "mlp", "width": 16, "epochs": 2,
         "batch_size": 32, "device": "cpu"}


@pytest.mark.parametrize("share,factor", [(0.25, 0.25), (None, 1.0), (2.0, 2.0)])
def test_device_seconds_is_train_seconds_times_the_share(share, factor):
    for row in run_trial({**SMALL, "device_share": share}):
        assert row["device_seconds"] == row["train_seconds"] * factor


@pytest.mark.parametrize("share", [0.0, -0.5, float("nan")])
def test_a_share_that_is_not_positive_is_refused(share):
    with pytest.raises(ConfigError, match="device_share"):
        run_trial({**SMALL, "device_share": share})


@pytest.fixture(scope="module")
def fake_gpu_session(local_ray):
    with local_ray(num_cpus=2, num_gpus=1) as ray:
        yield ray


@pytest.mark.slow
@pytest.mark.parametrize("resources,share", [({"cpu": 1, "gpu": 0.25}, 0.25),  # a quarter GPU
                                             ({"cpu": 1}, 0.5)])  # one of the node's 2 CPUs
def test_train_fn_fills_the_share_from_the_trial_resources(fake_gpu_session, tmp_path,
                                                           resources, share):
    from ray import tune

    from trainables.tune import train_fn

    tuner = tune.Tuner(
        tune.with_resources(train_fn, resources), param_space=SMALL,
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="share", verbose=0))
    result = tuner.fit()[0]
    assert result.error is None
    rows = result.metrics_dataframe
    assert len(rows) == SMALL["epochs"]
    for seconds, device_seconds in zip(rows["train_seconds"], rows["device_seconds"]):
        assert device_seconds == pytest.approx(seconds * share, rel=1e-12)
        assert seconds > 0
