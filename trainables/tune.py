"""The Ray Tune function trainable: the only place in trainables/ that imports Ray.

It drives the same `Trial` as `run_trial`, reports once per epoch (every report increments
Ray's `training_iteration`), attaches a checkpoint every `checkpoint_interval` epochs and on the
last one, and resumes from `tune.get_checkpoint()` after a failure, a PBT exploit or
`Tuner.restore`.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch
from ray import tune

from .trial import Trial

STATE_FILE = "trial_state.pt"


def train_fn(config: dict[str, Any]) -> None:
    """Train one trial under Ray Tune. Keys that are not TrialConfig fields are refused."""
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
