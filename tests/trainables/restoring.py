"""The restore check the trial tests share: a trial stopped after some epochs, its state
through ``torch.save`` / ``torch.load`` (as a Tune checkpoint's), loaded by a fresh `Trial` in a
process whose global generators hold unrelated state, continues exactly as the run that never
stopped. `restored_run` does both runs; each test compares what its trial promises
(`columns`, `same_weights`)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from trainables.trial import Trial


@dataclass
class Restored:
    straight: Trial  # the run that never stopped
    straight_rows: list[dict]
    resumed: Trial  # the fresh trial that loaded the saved state
    rows: list[dict]  # the stopped run's rows, then the resumed trial's
    state: dict  # the saved state, as loaded back


def roundtrip(state: dict, map_location: Any = None) -> dict:
    """``state`` through torch.save and torch.load(weights_only=True), as a checkpoint goes."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True, map_location=map_location)


def restored_run(config: dict, stop: int) -> Restored:
    """``config["epochs"]`` epochs straight, and the same stopped after ``stop`` and resumed."""
    epochs = config["epochs"]
    straight = Trial(config)
    straight_rows = [straight.run_epoch() for _ in range(epochs)]
    first = Trial(config)
    rows = [first.run_epoch() for _ in range(stop)]
    state = roundtrip(first.state_dict())
    torch.manual_seed(12345)  # a restored process starts from unrelated global RNG state
    resumed = Trial(config)
    resumed.load_state_dict(state)
    rows += [resumed.run_epoch() for _ in range(epochs - stop)]
    return Restored(straight, straight_rows, resumed, rows, state)


def columns(rows: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """Each row's ``keys`` (the columns a test compares)."""
    return [{k: r[k] for k in keys} for r in rows]


def same_weights(a: Trial, b: Trial) -> bool:
    """Every member network of ``a`` and ``b`` holds bit-identical tensors."""
    return len(a.members) == len(b.members) and all(
        torch.equal(tensor, y.model.state_dict()[name])
        for x, y in zip(a.members, b.members) for name, tensor in x.model.state_dict().items())
