"""The built-in generated and shipped datasets: sizes, shapes, tasks, caches, and every
registered dataset's declared pool size, classes and input shape against what it loads."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from trainables.data import DATASETS, DataError, Splits, load_splits
from trainables.datasets.mnist1d_local import mnist1d_arrays
from trainables.datasets.sklearn_toys import load_digits_cached


@pytest.fixture(scope="module")
def mnist1d_splits() -> Splits:
    """Generated once per module (a few seconds); later loads hit the in-process cache."""
    return load_splits("mnist1d")




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
    raw = load_digits_cached()
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
    mnist1d_arrays(500, 3)  # a fresh generation, not the cached default
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


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(DataError, match="known datasets: .*cifar10.*digits.*mnist1d"):
        load_splits("imagenet")
    assert issubclass(DataError, ValueError)



@pytest.mark.parametrize("name", sorted(DATASETS))
def test_declared_pool_size_classes_and_shape_are_what_it_loads(name: str) -> None:
    """The registry's declarations let a driver check n_train without loading: they must be
    what a trial loads (file-based datasets need downloads and are checked on tiny files)."""
    spec = DATASETS[name]
    if spec.needs_data_dir:
        pytest.skip(f"{name} is read from downloaded files")
    raw = spec.load(None, False)
    assert spec.pool_size == len(raw.y_pool) == len(raw.x_pool)
    assert spec.input_shape == raw.x_pool.shape[1:] == raw.x_test.shape[1:]
    if spec.task == "classification":
        assert spec.n_classes == int(raw.y_pool.max()) + 1
    else:
        assert spec.n_classes == 0 and raw.y_pool.dtype.kind == "f"


def test_mnist1d_is_cached_on_disk_between_processes(tmp_path, monkeypatch) -> None:
    """Every Ray trial is a new process: the generated arrays are kept on disk, unchanged."""
    from trainables.datasets.mnist1d_local import _load_mnist1d

    monkeypatch.setenv("CROSSREG_CACHE", str(tmp_path))
    generated = _load_mnist1d(None, False)
    (cached_file,) = (tmp_path / "mnist1d").glob("*.npz")
    mnist1d_arrays.cache_clear()  # as in a fresh process
    cached = _load_mnist1d(None, False)
    for a, b in zip((generated.x_pool, generated.y_pool, generated.x_test, generated.y_test),
                    (cached.x_pool, cached.y_pool, cached.x_test, cached.y_test)):
        assert np.array_equal(a, b)
    cached_file.write_bytes(b"damaged")  # a broken cache is regenerated, not an error
    mnist1d_arrays.cache_clear()
    assert np.array_equal(_load_mnist1d(None, False).y_pool, generated.y_pool)
