"""Every catalogue family survives a checkpoint: a run restored at epoch 2 (in a process whose
global generator is elsewhere) continues exactly as the uninterrupted run, because each draws
only from the regularizer's generator, which the trial checkpoints."""

from __future__ import annotations

import pytest
from restoring import columns, restored_run, same_weights

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 2, "epochs": 4,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 7, "K": 2,
             "device": "cpu"}
COMPARED = ("train_loss", "val_loss", "test_loss", "test_acc")


@pytest.mark.parametrize("overrides", [
    {"family": "dropout", "rho": 0.3},
    {"family": "gaussian_dropout", "mode": "cross_reg", "rho": 0.4},
    {"family": "dropconnect", "rho": 0.2},
    {"family": "weight_noise", "mode": "cross_reg", "rho": 0.3},
    {"family": "orthogonal", "mode": "cross_reg", "rho": 0.6},
    {"family": "l1_net", "mode": "cross_reg", "rho": 0.8},
    {"family": "stochastic_depth", "model": "resmlp", "rho": 0.3},
    {"family": "cutout", "model": "cnn", "width": 8, "rho": 3.0},
], ids=lambda o: o["family"])
def test_restore_at_epoch_2_continues_identically(overrides) -> None:
    run = restored_run({**SMALL, **overrides, "epochs": 4}, stop=2)
    keys = [*COMPARED, *(k for k in run.straight_rows[0] if k.startswith("rho/"))]
    assert columns(run.rows, keys) == columns(run.straight_rows, keys)
    assert same_weights(run.straight, run.resumed)
