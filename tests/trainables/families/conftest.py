"""What the family tests share: training a config next to plain training (family ``none``) and
comparing the two bit for bit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch

from trainables.trial import Trial

#: the report columns that must agree to the bit between a run and plain training
COMPARED = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "test_nll",
            "test_ece")


def plain_weights(trial: Trial) -> dict[str, torch.Tensor]:
    """The model's state_dict with parametrised weights under their plain names
    (``parametrizations.weight.original`` -> ``weight``), in sorted key order."""
    state = {k.replace("parametrizations.", "").replace(".original", ""): v
             for k, v in trial.model.state_dict().items()}
    return dict(sorted(state.items()))


def train_pair(config: Mapping[str, Any]) -> tuple[list[dict], list[dict], Trial, Trial]:
    """(rows of ``config``, rows of the same config with family none, both trials)."""
    plain_config = {k: v for k, v in config.items() if k not in ("family", "rho", "mode")}
    run, plain = Trial(dict(config)), Trial(plain_config)
    rows, plain_rows = [], []
    while not plain.done:
        rows.append(run.run_epoch())
        plain_rows.append(plain.run_epoch())
    return rows, plain_rows, run, plain


@pytest.fixture
def assert_plain_training() -> Callable[[Mapping[str, Any]], list[dict]]:
    """``check(config) -> rows``: the config trains exactly as family none does (every weight
    and every compared report column equal), on the CPU."""

    def check(config: Mapping[str, Any]) -> list[dict]:
        rows, plain_rows, run, plain = train_pair({**config, "device": "cpu"})
        weights, reference = plain_weights(run), plain_weights(plain)
        assert list(weights) == list(reference)
        assert all(torch.equal(weights[k], reference[k]) for k in reference)
        for row, plain_row in zip(rows, plain_rows):
            assert {k: row[k] for k in COMPARED} == {k: plain_row[k] for k in COMPARED}
        return rows

    return check


@pytest.fixture
def assert_not_plain_training() -> Callable[[Mapping[str, Any]], list[dict]]:
    """``check(config) -> rows``: the config's weights end up different from plain training."""

    def check(config: Mapping[str, Any]) -> list[dict]:
        rows, _, run, plain = train_pair({**config, "device": "cpu"})
        weights, reference = plain_weights(run), plain_weights(plain)
        assert not all(torch.equal(weights[k], reference[k]) for k in reference)
        return rows

    return check
