"""Splitting: seeded, stratified hold-out and folds, refit, n_train, train-only normalisation,
and the argument errors, on a test dataset whose only feature is the row id."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.data import (
    DATASETS,
    DataError,
    DatasetSpec,
    RawDataset,
    Split,
    Splits,
    load_splits,
)

# --------------------------------------------------------------------------------------
# A registered test dataset whose only feature is the row id, so that every split can be
# mapped back to pool rows exactly (x * std + mean recovers the id).
# --------------------------------------------------------------------------------------

N_IDS = 200


def _ids_loader(data_dir, download) -> RawDataset:
    ids = np.arange(N_IDS, dtype=np.float32)[:, None]
    # unbalanced classes: 100 / 60 / 40
    y = np.repeat(np.arange(3), [100, 60, 40]).astype(np.int64)
    test = np.arange(10, dtype=np.float32)[:, None] + 1000.0
    return RawDataset(ids, y, test, np.zeros(10, dtype=np.int64), norm="feature")


@pytest.fixture
def ids(monkeypatch):
    monkeypatch.setitem(
        DATASETS, "ids", DatasetSpec("ids", "classification", 3, (1,), _ids_loader))
    return "ids"


def _rows(split: Split, s: Splits) -> np.ndarray:
    m = s.info["normalisation"]
    x = split.x.numpy()[:, 0].astype(np.float64) * m["std"][0] + m["mean"][0]
    return np.rint(x).astype(np.int64)



# --------------------------------------------------------------------------------------
# Split rules
# --------------------------------------------------------------------------------------


def test_holdout_sizes_and_stratification(ids) -> None:
    s = load_splits(ids, reg_fraction=0.2, split_seed=3)
    assert (len(s.train), len(s.reg), len(s.test)) == (160, 40, 10)
    assert s.info["n_train"] == 160 and s.info["n_reg"] == 40 and s.info["n_test"] == 10
    train, reg = _rows(s.train, s), _rows(s.reg, s)
    assert sorted(np.concatenate([train, reg]).tolist()) == list(range(N_IDS))
    assert np.bincount(s.reg.y.numpy(), minlength=3).tolist() == [20, 12, 8]
    # labels travel with their rows
    y_of = np.repeat(np.arange(3), [100, 60, 40])
    assert np.array_equal(s.train.y.numpy(), y_of[train])


def test_reproducible_and_seed_dependent(ids) -> None:
    a, b = load_splits(ids, split_seed=1), load_splits(ids, split_seed=1)
    c = load_splits(ids, split_seed=2)
    for part in ("train", "reg", "test"):
        assert torch.equal(getattr(a, part).x, getattr(b, part).x)
        assert torch.equal(getattr(a, part).y, getattr(b, part).y)
    assert a.info == b.info
    assert not np.array_equal(np.sort(_rows(a.reg, a)), np.sort(_rows(c.reg, c)))
    assert a.info["reg_hash"] != c.info["reg_hash"]


def test_folds_partition_the_pool(ids) -> None:
    k = 5
    regs, pool_hashes = [], set()
    for fold in range(k):
        s = load_splits(ids, n_folds=k, fold=fold, split_seed=7, n_train=120)
        train, reg = _rows(s.train, s), _rows(s.reg, s)
        assert len(set(train) & set(reg)) == 0
        assert len(reg) == 24 and len(train) == 96
        # stratified: 120 pool rows are 60 / 36 / 24 by class -> 12 / 7-8 / 4-5 per fold
        counts = np.bincount(s.reg.y.numpy(), minlength=3)
        assert counts[0] == 12 and 7 <= counts[1] <= 8 and 4 <= counts[2] <= 5
        regs.append(reg)
        pool_hashes.add(s.info["pool_hash"])
        pool = set(train) | set(reg)
    all_reg = np.concatenate(regs)
    assert len(all_reg) == 120 and set(all_reg) == pool  # folds partition the pool exactly
    assert len(pool_hashes) == 1
    refit = load_splits(ids, n_folds=k, fold=-1, split_seed=7, n_train=120)
    assert refit.reg is None and refit.info["refit"]
    assert set(_rows(refit.train, refit)) == pool
    assert refit.info["pool_hash"] in pool_hashes


def test_regression_folds_partition_the_pool(monkeypatch) -> None:
    def loader(data_dir, download):
        raw = _ids_loader(data_dir, download)
        return RawDataset(raw.x_pool, raw.x_pool[:, 0] * 2.0, raw.x_test, raw.x_test[:, 0],
                          norm="feature")

    monkeypatch.setitem(DATASETS, "ids-reg", DatasetSpec("ids-reg", "regression", 0, (1,), loader))
    seen = []
    for fold in range(3):
        s = load_splits("ids-reg", n_folds=3, fold=fold, n_train=100)
        train, reg = _rows(s.train, s), _rows(s.reg, s)
        assert not set(train) & set(reg) and len(train) + len(reg) == 100
        assert len(reg) in (33, 34)
        # targets stay paired with their rows (y = 2 * id, standardised with train stats)
        t = s.info["normalisation"]
        assert np.allclose(s.reg.y.numpy() * t["target_std"] + t["target_mean"], 2.0 * reg, atol=1e-3)
        seen.append(reg)
    assert len(np.concatenate(seen)) == 100 and len(set(np.concatenate(seen))) == 100


def test_n_train_subsamples_pool_before_reg_split(ids) -> None:
    s = load_splits(ids, n_train=50, reg_fraction=0.2)
    assert (len(s.train), len(s.reg)) == (40, 10)
    assert s.info["n_pool"] == 50 and s.info["n_pool_available"] == N_IDS
    # stratified subsample: 50 of 100 / 60 / 40 -> 25 / 15 / 10
    y = np.concatenate([s.train.y.numpy(), s.reg.y.numpy()])
    assert np.bincount(y, minlength=3).tolist() == [25, 15, 10]
    # the pool does not depend on the reg split: hold-out and refit share it
    r = load_splits(ids, n_train=50, fold=-1)
    assert r.info["pool_hash"] == s.info["pool_hash"]
    assert set(_rows(r.train, r)) == set(_rows(s.train, s)) | set(_rows(s.reg, s))


def test_normalisation_uses_train_only(ids) -> None:
    s = load_splits(ids, reg_fraction=0.25, split_seed=0)
    train = _rows(s.train, s)
    m = s.info["normalisation"]
    assert m["mode"] == "feature"
    assert m["mean"][0] == pytest.approx(train.mean())
    assert m["std"][0] == pytest.approx(train.std())
    assert s.train.x.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert s.train.x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
    # the test split (ids 1000..1009) is transformed with the train statistics
    expected = (np.arange(1000, 1010) - m["mean"][0]) / m["std"][0]
    assert np.allclose(s.test.x.numpy()[:, 0], expected, rtol=1e-5)


def test_refit_normalises_with_whole_pool(ids) -> None:
    s = load_splits(ids, fold=-1)
    assert s.info["normalisation"]["mean"][0] == pytest.approx((N_IDS - 1) / 2)

# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_train": 10_000}, "exceeds the training pool"),
        ({"n_train": 1}, "n_train"),
        ({"n_folds": 0}, "n_folds"),
        ({"n_folds": 5}, "fold must be in"),
        ({"n_folds": 5, "fold": 5}, "fold must be in"),
        ({"fold": 3}, "n_folds=1"),
        ({"reg_fraction": 0.0}, "reg_fraction"),
        ({"reg_fraction": 1.0}, "reg_fraction"),
        ({"options": {"nope": 1}}, "unknown option"),
    ],
)
def test_bad_arguments(kwargs, match) -> None:
    with pytest.raises(DataError, match=match):
        load_splits("digits", **kwargs)
