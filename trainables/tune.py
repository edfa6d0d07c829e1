"""The Ray Tune function trainable: the only place in trainables/ that imports Ray.

It drives the same `Trial` as `run_trial`, reports once per epoch (every report increments
Ray's `training_iteration`), attaches a checkpoint every `checkpoint_interval` epochs and on the
last one, and resumes from `tune.get_checkpoint()` after a failure, a PBT exploit or
`Tuner.restore`. It sets the trial's ``device_share`` from the resources Ray gave it.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import ray
import torch
from ray import tune

from .trial import Trial

STATE_FILE = "trial_state.pt"


def device_share() -> float | None:
    """The share of the device the running Tune trial holds, from the resources Ray gave it:
    its GPUs if it holds any (0.25 = a quarter of one GPU, 2 = two GPUs), else its CPUs over
    the CPUs of the node it runs on. None outside a Tune trial.

    What a trial holds is what it kept from others, whether or not it used it all: packing
    four trials on a GPU makes each cost a quarter of the GPU's time, which is the fair price
    of the device when strategies are compared by device-seconds.
    """
    resources = tune.get_context().get_trial_resources()  # None (and a warning) outside one
    if resources is None:
        return None
    required = resources.required_resources  # summed over the trial's bundles
    gpus = float(required.get("GPU", 0.0))
    if gpus > 0:
        return gpus
    cpus = float(required.get("CPU", 0.0)) or 1.0  # a trial runs on a core even if it reserved none
    node = ray.get_runtime_context().get_node_id()
    node_cpus = next((float(n["Resources"].get("CPU", 0.0)) for n in ray.nodes()
                      if n["NodeID"] == node), 0.0)
    return min(cpus / node_cpus, 1.0) if node_cpus > 0 else None


def train_fn(config: dict[str, Any]) -> None:
    """Train one trial under Ray Tune. Keys that are not TrialConfig fields are refused.

    ``device_share`` is filled in from the trial's resources (`device_share`) unless the
    config pins it, so each row's ``device_seconds`` is its time x the device it held."""
    if config.get("device_share") is None:
        config = {**config, "device_share": device_share()}
    trial = Trial(config)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            # on the CPU: generator states must stay CPU tensors; load_state_dict moves
            # weights and optimiser state to the trial's device
            state = torch.load(os.path.join(directory, STATE_FILE), weights_only=True,
                               map_location="cpu")
        trial.load_state_dict(state)
    every = trial.config.checkpoint_interval
    while not trial.done:
        row = trial.run_epoch()
        if trial.done or trial.epoch % every == 0:
            with tempfile.TemporaryDirectory() as directory:
                torch.save(trial.state_dict(), os.path.join(directory, STATE_FILE))
                tune.report(row, checkpoint=tune.Checkpoint.from_directory(directory))
        else:
            tune.report(row)
