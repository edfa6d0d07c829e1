"""One trial end to end: plain-training equality, accounting, checkpoint/restore, bad configs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from restoring import restored_run, same_weights

from trainables import ConfigError, run_trial
from trainables.member import _STREAM_SHUFFLE, _generator
from trainables.trial import Trial

SMALL = {"dataset": "digits", "n_train": 200, "model": "mlp", "width": 64, "depth": 2, "epochs": 3,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 64, "seed": 3}
VOLATILE = {"train_seconds", "device_seconds", "observe_seconds"}


def _stable(rows):
    """Rows without wall times, NaN made comparable (NaN != NaN would fail any equality)."""
    def nan_free(v):
        return "nan" if isinstance(v, float) and math.isnan(v) else v
    return [{k: nan_free(v) for k, v in row.items() if k not in VOLATILE} for row in rows]


def _weights(trial: Trial) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trial.model.state_dict().items()}


def test_fixed_noise_at_zero_is_plain_training_bit_for_bit():
    """sigma = 0 in fixed mode and family 'none' equal a hand-written plain loop exactly."""
    cfg = {**SMALL, "family": "noise", "mode": "fixed", "rho": 0.0}
    noisy_zero = Trial(cfg)
    plain = Trial({**SMALL, "family": "none"})
    for _ in range(SMALL["epochs"]):
        noisy_zero.run_epoch()
        plain.run_epoch()

    # the reference: a textbook loop over the same data, init seed and shuffling stream
    splits = plain.splits
    torch.manual_seed(SMALL["seed"])
    from trainables.models import build_model

    model = build_model("mlp", splits.input_shape, splits.n_classes, width=64, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    shuffle = _generator(torch.device("cpu"), SMALL["seed"], _STREAM_SHUFFLE)
    x, y = splits.train.x, splits.train.y
    model.train()
    for _ in range(SMALL["epochs"]):
        order = torch.randperm(len(x), generator=shuffle)
        for start in range(0, len(x), SMALL["batch_size"]):
            idx = order[start:start + SMALL["batch_size"]]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()

    reference = model.state_dict()
    for name, tensor in _weights(plain).items():
        assert torch.equal(tensor, reference[name]), name
    for name, tensor in _weights(noisy_zero).items():
        assert torch.equal(tensor, reference[name]), name


def test_accounting_fixed_mode_counts_the_training_split_exactly():
    rows = run_trial({**SMALL, "family": "noise", "mode": "fixed", "rho": 0.3, "K": 3,
                      "eval_samples": 5})
    for row in rows:
        assert row["fwd_train"] == row["n_train"]
        assert row["fwd_reg"] == 0
        assert row["fwd_eval"] == 5 * row["n_reg"]  # noisy model: mean over eval_samples, not K
        # the test split with eval_samples draws, then the noise-off pass (one draw)
        assert row["fwd_test"] == 5 * row["n_test"] + row["n_test"]


@pytest.mark.parametrize("r,K,reg_batch_size", [(1, 4, 16), (3, 2, 7), (5, 1, 1000)])
def test_accounting_cross_reg_counts_rho_steps_times_k_times_batch(r, K, reg_batch_size):
    rows = run_trial({**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.2,
                      "r": r, "K": K, "reg_batch_size": reg_batch_size, "epochs": 4})
    steps_per_epoch = math.ceil(rows[0]["n_train"] / SMALL["batch_size"])
    rho_batch = min(reg_batch_size, rows[0]["n_reg"])
    done = 0
    for row in rows:
        # rho steps fall on every r-th theta step counted over the whole run
        rho_steps = (done + steps_per_epoch) // r - done // r
        done += steps_per_epoch
        assert row["fwd_train"] == row["n_train"]
        assert row["fwd_reg"] == rho_steps * K * rho_batch
        assert row["fwd_eval"] == 4 * row["n_reg"]  # eval_samples (default 4), whatever K


def test_deterministic_family_rho_step_costs_one_sample():
    rows = run_trial({**SMALL, "family": "weight_norm", "mode": "cross_reg", "rho": 1.0,
                      "K": 4, "r": 2, "epochs": 2, "norm": False})
    steps = math.ceil(rows[0]["n_train"] / SMALL["batch_size"])
    assert rows[0]["fwd_reg"] == (steps // 2) * 1 * min(16, rows[0]["n_reg"])
    assert rows[0]["fwd_eval"] == rows[0]["n_reg"]


@pytest.mark.parametrize("overrides", [
    {"family": "noise", "mode": "cross_reg", "rho": 0.3, "K": 2},
    {"family": "noise", "mode": "fixed", "rho": 0.5, "dropout": 0.2},
    {"family": "augment", "mode": "cross_reg", "rho": {"translate": 1.0, "rotate": 10.0, "shear": 0.1},
         "model": "cnn", "width": 16, "K": 2},
    {"family": "weight_norm", "mode": "cross_reg", "rho": 1.0, "norm": False},
])
def test_restore_at_epoch_e_continues_identically(overrides):
    run = restored_run({**SMALL, **overrides, "epochs": 4}, stop=2)
    assert _stable(run.rows) == _stable(run.straight_rows)
    assert same_weights(run.straight, run.resumed)


def test_learned_rho_moves_and_only_on_the_regularization_split():
    trial = Trial({**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.3, "epochs": 1})
    before = trial.regularizer.rho_values()
    weights = _weights(trial)
    trial.engine._rho_step(trial.splits.reg.x, trial.splits.reg.y)
    assert trial.regularizer.rho_values() != before
    for name, tensor in _weights(trial).items():  # a rho step leaves theta alone
        assert torch.equal(tensor, weights[name]), name
    rho = trial.regularizer.log_sigma.detach().clone()
    trial.run_epoch()  # theta steps with r=1: rho moved by its own optimiser only
    assert not torch.equal(rho, trial.regularizer.log_sigma.detach())


def test_report_row_has_the_contract_columns():
    row = run_trial({**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.3, "epochs": 1,
                     "experiment": "e", "strategy": "cross_reg", "role": "single"})[0]
    for key in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                "test_ece", "test_nll", "test_brier", "rho/sigma_0", "rho/sigma_1", "fwd_train",
                "fwd_reg", "fwd_eval", "fwd_test", "train_seconds", "n_train", "n_reg", "n_test",
                "diverged", "experiment", "strategy", "seed", "role"):
        assert key in row, key
    assert row["n_train"] + row["n_reg"] == 200
    assert 0 <= row["test_ece"] <= 1 and row["test_loss"] == row["test_nll"]


def test_refit_fold_has_no_validation_split_and_cv_folds_validate():
    refit = run_trial({**SMALL, "n_folds": 4, "fold": -1, "epochs": 1, "role": "refit"})[0]
    assert refit["n_reg"] == 0 and math.isnan(refit["val_acc"]) and refit["fwd_eval"] == 0
    assert refit["n_train"] == 200
    fold = run_trial({**SMALL, "n_folds": 4, "fold": 1, "epochs": 1, "role": "fold"})[0]
    assert fold["n_reg"] == 50 and fold["n_train"] == 150


def test_regression_dataset_reports_mse_and_nan_accuracy():
    row = run_trial({**SMALL, "dataset": "diabetes", "epochs": 2})[-1]
    assert row["test_loss"] > 0 and math.isnan(row["test_acc"]) and math.isnan(row["val_acc"])


def test_a_nan_loss_ends_the_trial_with_a_diverged_flag():
    rows = run_trial({**SMALL, "optimizer": "sgd", "lr": 1e12, "momentum": 0.0, "epochs": 5})
    assert rows[-1]["diverged"] is True
    assert len(rows) < 5 or math.isnan(rows[-1]["train_loss"])
    assert all(row["diverged"] is False for row in rows[:-1])


@pytest.mark.parametrize("overrides,key", [
    ({"dataset": "imagenet-21k"}, "dataset"),
    ({"model": "transformer"}, "model"),
    ({"family": "no-such-family"}, "family"),
    ({"family": "noise", "rho": -0.1}, "rho"),
    ({"family": "noise", "rho": {"sigma_0": 0.1}}, "rho"),
    ({"K": 0}, "K"),
    ({"r": 0}, "r"),
    ({"epochs": "ten"}, "epochs"),
    ({"lr": -1.0}, "lr"),
    ({"colour": "red"}, "colour"),
    ({"family": "noise", "mode": "cross_reg", "rho": 0.0}, "rho"),
    ({"family": "augment", "dataset": "diabetes"}, "augment"),
])
def test_bad_configs_raise_one_clear_error_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key):
        Trial({**SMALL, **overrides})


def test_missing_data_dir_says_what_to_download(tmp_path):
    with pytest.raises(ConfigError, match="cifar10") as info:
        Trial({**SMALL, "dataset": "cifar10", "data_dir": str(tmp_path), "model": "cnn"})
    assert str(tmp_path) in str(info.value)


def test_rows_say_what_chance_is_on_the_test_split():
    """The majority-class rate of the test labels and the class count, for the analysis's
    `collapsed` flag; NaN for regression."""
    import numpy as np

    trial = Trial({**SMALL, "epochs": 1})
    row = trial.run_epoch()
    labels = trial.splits.test.y.cpu().numpy()
    assert row["test_majority_acc"] == np.bincount(labels).max() / len(labels)
    assert row["n_classes"] == 10
    reg = run_trial({"dataset": "diabetes", "model": "mlp", "width": 8, "epochs": 1})
    assert math.isnan(reg[0]["test_majority_acc"]) and math.isnan(reg[0]["n_classes"])


def test_progress_prints_a_line_per_epoch_with_the_rate_and_eta(capsys):
    lines: list[str] = []
    rows = run_trial({**SMALL, "observe_every": 2}, progress=lines.append)
    assert [line.split(" · ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(" s/epoch · ETA " in line and "val_acc" in line for line in lines)
    # test_acc only where the test split was observed (every 2 epochs, and the last)
    assert ["test_acc" in line for line in lines] == [False, True, True]
    assert f"test_acc {rows[-1]['test_acc']:.4f}" in lines[-1] and lines[-1].endswith("ETA 0:00")
    run_trial({**SMALL, "epochs": 1}, progress=True)
    assert capsys.readouterr().out.startswith("epoch 1/1 · train_loss ")
    run_trial({**SMALL, "epochs": 1})
    assert capsys.readouterr().out == ""  # quiet by default
