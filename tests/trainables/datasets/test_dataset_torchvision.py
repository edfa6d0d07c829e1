"""The torchvision datasets: one clear error for missing or corrupted files, and the loaders
on tiny files written in each dataset's real on-disk format."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from trainables.data import DataError, load_splits


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
