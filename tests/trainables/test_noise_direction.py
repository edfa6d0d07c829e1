"""Learned noise moves the right way: up where the model overfits, down where it underfits.

Short versions of benchmarks/bench_noise.py (whose 5-seed figures are in BENCHMARKS.md).
"""

from __future__ import annotations

import pytest

from trainables import run_trial

BASE = {"dataset": "mnist1d", "model": "mlp", "batch_size": 100, "reg_batch_size": 100,
            "family": "noise", "mode": "cross_reg", "K": 4, "r": 1, "rho_lr": 1e-2, "seed": 0}


@pytest.mark.slow
def test_sigma_rises_where_a_wide_mlp_overfits_a_small_training_set():
    rows = run_trial({**BASE, "width": 512, "depth": 2, "n_train": 1000, "rho": 0.1, "epochs": 20})
    assert rows[-1]["train_acc"] > rows[-1]["val_acc"] + 0.2  # it does overfit
    assert rows[-1]["rho/sigma_0"] > 0.2  # from 0.1


@pytest.mark.slow
def test_sigma_falls_where_a_narrow_mlp_underfits():
    rows = run_trial({**BASE, "width": 16, "depth": 1, "n_train": 2000, "rho": 0.5, "epochs": 10})
    assert rows[-1]["train_acc"] < 0.6  # it cannot even fit the training split
    assert rows[-1]["rho/sigma_0"] < 0.25  # from 0.5
