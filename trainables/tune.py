"""Ray Tune's side of a trial, the only place in trainables/ that imports Ray: the function
trainable `train_fn` and the `run_config` a Tuner of it needs.

`train_fn` drives the same `Trial` as `run_trial`, reports once per epoch (every report
increments Ray's `training_iteration`), attaches a checkpoint every `checkpoint_interval`
epochs and on the last one, and resumes from `tune.get_checkpoint()` after a failure, a PBT
exploit or `Tuner.restore`. It sets the trial's ``device_share`` from the resources Ray gave
it. The harness's strategies are Tuners of it; so can yours be (README: "Your own Tuner"):
`run_config` gives them the storage layout the analysis reads, retries from checkpoints, and
`KeepLocalResults`, without which Tune loses rows of a trial it pauses and restarts. Each
checkpoint also holds the rows its model was trained through (`Lineage`), from which
`crossreg resume` puts back rows that a dying driver never copied to storage.

At its last epoch (``Trial.done``: every epoch run, or diverged) a trial writes its per-example
test predictions, ``predictions.npz`` (`analysis.contract.PREDICTIONS_FILE`), straight into
its storage directory beside ``result.json``, through the storage's own file system (a local
disk, a shared file system or an object store alike). Not through Tune's artifact sync: with
it on, a trial that a scheduler pauses and restarts (PB2, HyperBand) had its working
directory restored from storage over the fresher local ``result.json``, and lost rows.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.logger import JsonLoggerCallback

from analysis.contract import CHECKPOINT_ROWS_FILE, PREDICTIONS_FILE, TRIAL_ID

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
    import torch  # here, not at the top: a Tuner's driver process imports this module too

    from .trial import Trial

    if config.get("device_share") is None:
        config = {**config, "device_share": device_share()}
    trial = Trial(config)
    lineage = Lineage()
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            # on the CPU: generator states must stay CPU tensors; load_state_dict moves
            # weights and optimiser state to the trial's device
            state = torch.load(os.path.join(directory, STATE_FILE), weights_only=True,
                               map_location="cpu")
            lineage.load(directory)
        trial.load_state_dict(state)
    every = trial.config.checkpoint_interval
    while not trial.done:
        row = trial.run_epoch()
        lineage.add(row)
        if trial.done:
            _save_predictions(trial)
        if trial.done or trial.epoch % every == 0:
            with tempfile.TemporaryDirectory() as directory:
                torch.save(trial.state_dict(), os.path.join(directory, STATE_FILE))
                lineage.save(directory)
                tune.report(row, checkpoint=tune.Checkpoint.from_directory(directory))
        else:
            tune.report(row)


class Lineage:
    """The rows a trial's model was trained through, saved in each of its checkpoints
    (`analysis.contract.CHECKPOINT_ROWS_FILE`), each tagged with the id of the trial that
    reported it: a PBT member restored from a donor's checkpoint inherits the donor's rows
    under the donor's id, so `crossreg resume` puts back only a trial's own rows."""

    def __init__(self) -> None:
        self.trial_id = tune.get_context().get_trial_id()
        self.rows: list[dict[str, Any]] = []

    def load(self, directory: str) -> None:
        """The rows of the checkpoint in `directory` (none in a checkpoint written before
        this file existed)."""
        path = os.path.join(directory, CHECKPOINT_ROWS_FILE)
        if os.path.exists(path):
            with open(path) as f:
                self.rows = [json.loads(line) for line in f if line.strip()]

    def add(self, row: Mapping[str, Any]) -> None:
        self.rows.append({**row, TRIAL_ID: self.trial_id})

    def save(self, directory: str) -> None:
        with open(os.path.join(directory, CHECKPOINT_ROWS_FILE), "w") as f:
            f.writelines(json.dumps(row, default=_plain) + "\n" for row in self.rows)


def _plain(value: Any) -> Any:
    """A numpy or torch scalar as the Python number JSON can write."""
    return value.item() if hasattr(value, "item") else str(value)


def _save_predictions(trial: Any) -> None:
    """``predictions.npz`` into the trial's storage directory (`Trial.write_predictions` into a
    local temporary folder, then one copy through the storage's file system, under a partial
    name moved into place, so that a reader never sees half a file); into the working directory
    outside a Tune trial."""
    try:
        storage = tune.get_context().get_storage()
    except Exception:  # not in a Tune trial, or a Ray without the storage context
        storage = None
    if storage is None:
        trial.write_predictions(os.getcwd())
        return
    fs, directory = storage.storage_filesystem, storage.trial_fs_path
    target = f"{directory}/{PREDICTIONS_FILE}"
    with tempfile.TemporaryDirectory() as local:
        path = trial.write_predictions(local)
        fs.create_dir(directory, recursive=True)
        with open(path, "rb") as src, fs.open_output_stream(target + ".partial") as dst:
            dst.write(src.read())
    fs.move(target + ".partial", target)


class KeepLocalResults(JsonLoggerCallback):
    """Tune's JSON logger, minus the overwrite of fresher local rows by a stale copy.

    Ray Tune (2.60) writes a trial's `result.json` in a driver-side staging directory and
    syncs it to the storage path now and then. When it restarts a trial from a checkpoint
    within the same driver (PBT or PB2 pausing members, HyperBand resuming a rung's winners,
    a retry), the logger first copies the storage copy over the staging copy; the storage copy
    is stale, so every row reported since the last sync is silently lost (measured: a 4-member
    synch PBT lost 6 of 24 rows; PB2 kept 1-3 of 6 per trial). This skips that copy when the
    staging file already exists (this very driver wrote it: never older than storage). After a
    driver restart the staging directory is new and empty, so the storage copy is fetched.
    """

    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        local = Path(trial.local_path, file_name)
        if local.exists() and local.stat().st_size > 0:
            return
        super()._restore_from_remote(file_name, trial)


def run_config(storage_path: str, name: str, *, max_failures: int = 2,
               checkpoints_kept: int = 2, verbose: int = 0,
               callbacks: Sequence[Any] = ()) -> tune.RunConfig:
    """The RunConfig of a Tuner of `train_fn`: results under `storage_path/name` (an absolute
    path or a URI: Ray changes a trial's working directory), a failing trial retried
    `max_failures` times from its last checkpoint, the last `checkpoints_kept` checkpoints
    kept (PBT-like schedulers need a few more: the harness keeps 4), and every reported row
    kept in result.json (`KeepLocalResults`)."""
    if "://" not in storage_path:
        storage_path = os.path.abspath(os.path.expanduser(storage_path))
    return tune.RunConfig(
        name=name,
        storage_path=storage_path,
        failure_config=tune.FailureConfig(max_failures=max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_kept),
        verbose=verbose,
        callbacks=[KeepLocalResults(), *callbacks],
    )


__all__ = ["KeepLocalResults", "Lineage", "device_share", "run_config", "train_fn"]
