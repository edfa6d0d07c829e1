"""Every catalogue family survives a checkpoint: a run restored at epoch 2 (in a process whose
global generator is elsewhere) continues exactly as the uninterrupted run, because each draws
only from the regularizer's generator, which the trial checkpoints."""

from __future__ import annotations

import io

import pytest
import torch

from trainables.trial import Trial

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 2, "epochs": 4,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 7, "K": 2,
             "device": "cpu"}
COMPARED = ("train_loss", "val_loss", "test_loss", "test_acc")


def _roundtrip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


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
    config = {**SMALL, **overrides}
    straight = Trial(config)
    straight_rows = [straight.run_epoch() for _ in range(4)]
    first = Trial(config)
    rows = [first.run_epoch() for _ in range(2)]
    state = _roundtrip(first.state_dict())
    torch.manual_seed(12345)  # a restored process starts from unrelated global RNG state
    second = Trial(config)
    second.load_state_dict(state)
    rows += [second.run_epoch() for _ in range(2)]
    for row, straight_row in zip(rows, straight_rows):
        assert {k: v for k, v in row.items() if k in COMPARED or k.startswith("rho/")} == {
            k: v for k, v in straight_row.items() if k in COMPARED or k.startswith("rho/")}
    reference = straight.model.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in second.model.state_dict().items())
