"""`label_noise`: a seeded fraction of the training labels replaced, never a label that rho,
a search or the test split reads; 0.0 is today's splits bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.config import ConfigError, TrialConfig
from trainables.datasets import DataError, load_splits


def _splits(label_noise: float, split_seed: int = 3, **kw):
    return load_splits("digits", n_train=600, split_seed=split_seed, label_noise=label_noise, **kw)


def test_only_training_labels_change_by_the_fraction_asked():
    clean, noisy = _splits(0.0), _splits(0.3)
    assert torch.equal(clean.train.x, noisy.train.x)  # the same rows, in the same order
    assert torch.equal(clean.reg.x, noisy.reg.x) and torch.equal(clean.reg.y, noisy.reg.y)
    assert torch.equal(clean.test.x, noisy.test.x) and torch.equal(clean.test.y, noisy.test.y)
    changed = (clean.train.y != noisy.train.y).float().mean().item()
    assert changed == pytest.approx(0.3, abs=0.05)  # 180 of the 600 pool rows, ~90% in train
    assert noisy.info["n_noisy_train"] == int((clean.train.y != noisy.train.y).sum())
    assert noisy.info["train_hash"] == clean.info["train_hash"]
    assert noisy.info["reg_hash"] == clean.info["reg_hash"]


def test_seeded_by_split_seed_and_the_same_rows_in_every_fold():
    a, b, c = _splits(0.2), _splits(0.2), _splits(0.2, split_seed=4)
    assert torch.equal(a.train.y, b.train.y)
    assert not torch.equal(_splits(0.0, split_seed=4).train.y != c.train.y,
                           _splits(0.0).train.y != a.train.y)
    refit = _splits(0.2, n_folds=3, fold=-1)
    clean_refit = _splits(0.0, n_folds=3, fold=-1)
    noisy_rows = (refit.train.y != clean_refit.train.y).numpy()
    assert noisy_rows.sum() == 120  # round(0.2 * 600) on the whole pool
    for fold in range(3):
        f, clean_f = _splits(0.2, n_folds=3, fold=fold), _splits(0.0, n_folds=3, fold=fold)
        assert torch.equal(f.reg.y, clean_f.reg.y)  # the validated fold keeps its true labels
        assert int((f.train.y != clean_f.train.y).sum()) == f.info["n_noisy_train"]


def test_zero_is_todays_split_and_bad_values_are_refused():
    plain = load_splits("digits", n_train=600, split_seed=3)
    zero = _splits(0.0)
    assert torch.equal(plain.train.y, zero.train.y) and plain.info == zero.info
    assert TrialConfig().label_noise == 0.0
    with pytest.raises(ConfigError, match="label_noise"):
        TrialConfig(label_noise=1.0).check_fields()
    with pytest.raises(DataError, match="classification"):
        load_splits("diabetes", label_noise=0.1)


def test_a_trial_trains_on_noisy_labels():
    from trainables.trial import Trial

    trial = Trial({"dataset": "digits", "n_train": 200, "epochs": 1, "label_noise": 0.5,
                   "width": 8})
    clean = load_splits("digits", n_train=200)
    assert float((trial.splits.train.y != clean.train.y).float().mean()) > 0.3
    assert np.array_equal(trial.splits.test.y.numpy(), clean.test.y.numpy())
