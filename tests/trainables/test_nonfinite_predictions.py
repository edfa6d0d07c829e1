"""NaN in the test data: every test metric is NaN and the row says why (never a numeric
accuracy or ECE computed from NaN probabilities)."""

from __future__ import annotations

import math

import torch

from trainables.trial import Trial


def test_nan_test_inputs_make_every_test_metric_nan_and_flag_the_row():
    trial = Trial({"dataset": "digits", "n_train": 200, "width": 16, "epochs": 1,
                   "family": "noise", "mode": "fixed", "rho": 0.0})
    trial.splits.test.x[3] = float("nan")  # the tensor is the trial's own copy
    row = trial.run_epoch()
    assert row["test_nonfinite"] is True
    for key in ("test_acc", "test_ece", "test_nll", "test_brier", "test_loss"):
        assert math.isnan(row[key]), key
    assert math.isfinite(row["val_acc"]) and row["diverged"] is False  # training itself is fine


def test_clean_test_inputs_are_not_flagged():
    trial = Trial({"dataset": "digits", "n_train": 200, "width": 16, "epochs": 1})
    row = trial.run_epoch()
    assert row["test_nonfinite"] is False and 0.0 <= row["test_acc"] <= 1.0
    assert bool(torch.isfinite(trial.splits.test.x).all())
