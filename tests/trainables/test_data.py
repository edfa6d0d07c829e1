"""Data: split rules (reproducibility, stratification, folds, refit, n_train), normalisation,
generated datasets, torchvision loaders on tiny files in their real on-disk formats, errors."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch

from trainables import data as data_mod
from trainables.data import DATASETS, DataError, DatasetSpec, RawDataset, Split, Splits, load_splits

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


@pytest.fixture(scope="module")
def mnist1d_splits() -> Splits:
    """Generated once per module (a few seconds); later loads hit the in-process cache."""
    return load_splits("mnist1d")


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
# Generated / shipped datasets
# --------------------------------------------------------------------------------------


def test_digits() -> None:
    s = load_splits("digits")
    assert s.task == "classification" and s.n_classes == 10
    assert s.input_shape == (1, 8, 8) and s.train.x.shape[1:] == (1, 8, 8)
    assert len(s.train) + len(s.reg) == 1258 and len(s.test) == 539
    assert s.train.x.dtype == torch.float32 and s.train.y.dtype == torch.int64
    assert s.info["normalisation"]["mode"] == "channel" and len(s.info["normalisation"]["mean"]) == 1
    assert abs(s.train.x.mean().item()) < 1e-5
    flat = load_splits("digits", flatten=True, n_train=300)
    assert flat.input_shape == (64,) and flat.train.x.shape == (270, 64)
    # the test split is fixed: it does not move with split_seed
    other = load_splits("digits", split_seed=9)
    assert torch.equal(other.test.y, s.test.y)
    # the cached source arrays are read-only and were not normalised in place
    raw = data_mod._load_digits_cached()
    assert not raw.x_test.flags.writeable and raw.x_test.max() == 16.0


def test_diabetes_target_standardised() -> None:
    s = load_splits("diabetes")
    assert s.task == "regression" and s.n_classes == 0 and s.input_shape == (10,)
    assert len(s.train) + len(s.reg) == 309 and len(s.test) == 133
    assert s.train.y.dtype == torch.float32 and s.train.y.shape == (len(s.train),)
    assert s.train.y.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert s.train.y.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
    m = s.info["normalisation"]
    assert m["target_std"] > 10  # raw disease-progression units were standardised
    x_std = s.train.x.std(dim=0, unbiased=False)
    assert torch.allclose(x_std, torch.ones(10), atol=1e-4)


def test_mnist1d(mnist1d_splits: Splits) -> None:
    s = mnist1d_splits
    assert s.input_shape == (1, 40) and s.n_classes == 10
    assert (len(s.train), len(s.reg), len(s.test)) == (3600, 400, 1000)
    assert s.info["test_split"].startswith("official")
    flat = load_splits("mnist1d", flatten=True, n_train=1000, reg_fraction=0.2)
    assert flat.train.x.shape == (800, 40)


def test_mnist1d_leaves_global_rng_alone(mnist1d_splits: Splits, tmp_path) -> None:
    np_state, py_state = np.random.get_state(), random.getstate()
    data_mod._mnist1d_arrays(500, 3)  # a fresh generation, not the cached default
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert np.array_equal(after[1], np_state[1]) and after[2] == np_state[2]


def test_mnist1d_disk_cache(mnist1d_splits: Splits, tmp_path) -> None:
    s1 = load_splits("mnist1d", data_dir=tmp_path)
    path = tmp_path / "mnist1d" / "mnist1d_n5000_seed42.npz"
    assert path.is_file()
    s2 = load_splits("mnist1d", data_dir=tmp_path)  # read back from disk
    assert torch.equal(s1.train.x, s2.train.x) and torch.equal(s1.test.y, s2.test.y)
    assert torch.equal(s1.train.x, mnist1d_splits.train.x)


def test_synthetic_sets() -> None:
    r = load_splits("synthetic-regression", options={"n_pool": 100, "n_test": 50, "n_features": 5})
    assert r.task == "regression" and r.input_shape == (5,)
    assert (len(r.train), len(r.reg), len(r.test)) == (90, 10, 50)
    c = load_splits("synthetic-classification", options={"n_classes": 3, "n_features": 8})
    assert c.n_classes == 3 and c.input_shape == (8,)
    assert set(c.train.y.unique().tolist()) == {0, 1, 2}
    again = load_splits("synthetic-classification", options={"n_classes": 3, "n_features": 8})
    assert torch.equal(again.test.x, c.test.x)
    d = load_splits("synthetic-regression")
    assert (len(d.train) + len(d.reg), len(d.test)) == (500, 2000) and d.input_shape == (50,)


def test_device_argument() -> None:
    s = load_splits("digits", device=torch.device("cpu"))
    assert s.train.x.device.type == "cpu" and s.test.y.device.type == "cpu"


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(DataError, match="known datasets: .*cifar10.*digits.*mnist1d"):
        load_splits("imagenet")
    assert issubclass(DataError, ValueError)


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


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "svhn", "mnist", "fashion-mnist"])
def test_missing_files_one_clear_error(name: str, tmp_path) -> None:
    with pytest.raises(DataError) as e:
        load_splits(name, data_dir=tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and "missing" in msg and "download=True" in msg
    with pytest.raises(DataError, match="pass data_dir"):
        load_splits(name)


# --------------------------------------------------------------------------------------
# torchvision loaders on tiny files in each dataset's real on-disk format
# --------------------------------------------------------------------------------------


def _skip_md5(monkeypatch, module: str) -> None:
    """CIFAR and SVHN verify the md5 of every file against the official archives, which tiny
    files can never match. For these tests only, the check keeps torchvision's "file exists"
    half and drops the md5 half; everything else runs through the real torchvision classes."""
    import importlib

    mod = importlib.import_module(f"torchvision.datasets.{module}")
    monkeypatch.setattr(mod, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def _images(rng: np.random.Generator, n: int, shape=(3, 32, 32)) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _balanced_labels(n: int, n_classes: int) -> np.ndarray:
    return (np.arange(n) % n_classes).astype(np.int64)


def _pickle(path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _write_cifar10(root) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    xs, ys = [], []
    for i in range(1, 6):
        x, y = _images(rng, 4), _balanced_labels(4, 10) + 2 * (i - 1) % 10
        y = y % 10
        _pickle(d / f"data_batch_{i}", {"batch_label": f"batch {i}", "data": x.reshape(4, 3072),
                                        "labels": y.tolist(), "filenames": [b"f.png"] * 4})
        xs.append(x)
        ys.append(y)
    xt, yt = _images(rng, 6), np.array([3, 1, 4, 1, 5, 9])
    _pickle(d / "test_batch", {"batch_label": "test", "data": xt.reshape(6, 3072),
                               "labels": yt.tolist(), "filenames": [b"f.png"] * 6})
    _pickle(d / "batches.meta", {"label_names": [f"c{i}" for i in range(10)],
                                 "num_cases_per_batch": 4, "num_vis": 3072})
    return np.concatenate(xs), np.concatenate(ys), xt, yt


def _write_cifar100(root) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    x, y = _images(rng, 30), (np.arange(30) * 7) % 100
    xt, yt = _images(rng, 5), np.array([99, 0, 50, 7, 7])
    for name, xx, yy in [("train", x, y), ("test", xt, yt)]:
        _pickle(d / name, {"filenames": [b"f.png"] * len(yy), "batch_label": name,
                           "fine_labels": yy.tolist(), "coarse_labels": (yy // 5).tolist(),
                           "data": xx.reshape(len(yy), 3072)})
    _pickle(d / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                         "coarse_label_names": [f"c{i}" for i in range(20)]})
    return x, y, xt, yt


def _write_svhn(root) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    out = []
    for name, n in [("train", 20), ("test", 7)]:
        x = _images(rng, n)
        digits = _balanced_labels(n, 10)
        mat_y = np.where(digits == 0, 10, digits).astype(np.uint8)[:, None]  # SVHN: 10 means 0
        savemat(root / f"{name}_32x32.mat", {"X": x.transpose(2, 3, 1, 0), "y": mat_y})
        out += [x, digits]
    return tuple(out)


def _write_idx(path, arr: np.ndarray) -> None:
    """The MNIST idx-ubyte format: big-endian magic (0x08 = ubyte, then ndim), dims, bytes."""
    header = np.array([0x0800 + arr.ndim, *arr.shape], dtype=">i4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes())


def _write_mnist_like(root, folder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    x, y = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), _balanced_labels(20, 10)
    xt, yt = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([0, 9, 2, 2, 5])
    _write_idx(raw / "train-images-idx3-ubyte", x)
    _write_idx(raw / "train-labels-idx1-ubyte", y)
    _write_idx(raw / "t10k-images-idx3-ubyte", xt)
    _write_idx(raw / "t10k-labels-idx1-ubyte", yt)
    return x[:, None], y, xt[:, None], yt


def _check_loaded(name: str, root, arrays, shape, n_classes) -> None:
    x, y, xt, yt = arrays
    s = load_splits(name, data_dir=root, reg_fraction=0.25)
    assert s.input_shape == shape and s.n_classes == n_classes and s.task == "classification"
    n_reg = round(0.25 * len(y))
    assert (len(s.train), len(s.reg), len(s.test)) == (len(y) - n_reg, n_reg, len(yt))
    assert s.test.y.tolist() == list(yt)  # official test split, order kept
    assert sorted(s.train.y.tolist() + s.reg.y.tolist()) == sorted(y.tolist())
    m = s.info["normalisation"]
    assert m["mode"] == "channel" and len(m["mean"]) == shape[0]
    train = s.train.x.numpy()
    assert np.allclose(train.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    # test images are the raw bytes / 255, standardised with the train statistics
    mean = np.array(m["mean"])[None, :, None, None]
    std = np.array(m["std"])[None, :, None, None]
    assert np.allclose(s.test.x.numpy(), (xt / 255.0 - mean) / std, atol=1e-5)
    # the refit uses the whole pool, so its statistics can be checked against the raw files
    r = load_splits(name, data_dir=root, fold=-1)
    expected_mean = (x / 255.0).mean(axis=(0, 2, 3))
    assert np.allclose(r.info["normalisation"]["mean"], expected_mean, atol=1e-6)
    flat = load_splits(name, data_dir=root, fold=-1, flatten=True)
    assert flat.input_shape == (int(np.prod(shape)),)


def test_cifar10_tiny_files(tmp_path, monkeypatch) -> None:
    arrays = _write_cifar10(tmp_path)
    _skip_md5(monkeypatch, "cifar")
    _check_loaded("cifar10", tmp_path, arrays, (3, 32, 32), 10)


def test_cifar100_tiny_files(tmp_path, monkeypatch) -> None:
    arrays = _write_cifar100(tmp_path)
    _skip_md5(monkeypatch, "cifar")
    _check_loaded("cifar100", tmp_path, arrays, (3, 32, 32), 100)


def test_svhn_tiny_files(tmp_path, monkeypatch) -> None:
    arrays = _write_svhn(tmp_path)
    _skip_md5(monkeypatch, "svhn")
    _check_loaded("svhn", tmp_path, arrays, (3, 32, 32), 10)
    s = load_splits("svhn", data_dir=tmp_path, fold=-1)
    assert 0 in s.train.y.tolist() and 10 not in s.train.y.tolist()


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_like_tiny_files(tmp_path, name: str, folder: str) -> None:
    # torchvision reads the uncompressed idx files and checks only that they exist
    arrays = _write_mnist_like(tmp_path, folder)
    _check_loaded(name, tmp_path, arrays, (1, 28, 28), 10)
    # download=True with the files present fetches nothing (torchvision finds them)
    s = load_splits(name, data_dir=tmp_path, download=True, fold=-1)
    assert len(s.train) == 20


def test_corrupted_files_one_clear_error(tmp_path) -> None:
    _write_cifar10(tmp_path)  # present, but their md5 does not match the real archive
    with pytest.raises(DataError, match="corrupted"):
        load_splits("cifar10", data_dir=tmp_path)
