"""A user's own package written into tmp_path: how the tests bring their own model, dataset
and family through ``"pkg.module:attr"`` references, as a user would."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator

import pytest

#: a user's module: a LayerNorm network, a seeded classification set, and broken variants
USER_MODULE = '''
import numpy as np
import torch
from torch import nn

WIDTH = 32
NOT_CALLABLE = 3


def build(input_shape, n_out):
    d = int(np.prod(input_shape))
    return nn.Sequential(nn.Flatten(), nn.Linear(d, WIDTH), nn.LayerNorm(WIDTH), nn.ReLU(),
                         nn.Linear(WIDTH, WIDTH), nn.LayerNorm(WIDTH), nn.ReLU(),
                         nn.Linear(WIDTH, n_out))


def build_plain(input_shape, n_out):
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), n_out))


def build_wrong_width(input_shape, n_out):
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), n_out + 1))


def build_not_a_module(input_shape, n_out):
    return "a network"


def build_raises(input_shape, n_out):
    raise RuntimeError("no GPU kernels for this layer")


def load():
    """Three Gaussian classes in 12 dimensions, few training rows: a network overfits."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 1.0, size=(3, 12))
    y = rng.integers(0, 3, size=500)
    x = (centres[y] + 1.5 * rng.normal(size=(500, 12))).astype(np.float32)
    return x[:160], y[:160], x[160:], y[160:]


def load_regression():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 5))
    y = x @ rng.normal(size=5) + 0.1 * rng.normal(size=120)
    return torch.from_numpy(x[:100]), torch.from_numpy(y[:100]), x[100:], y[100:]


def load_three():
    x, y, xt, yt = load()
    return x, y, xt


def load_lists():
    x, y, xt, yt = load()
    return x.tolist(), y, xt, yt


def load_mismatched():
    x, y, xt, yt = load()
    return x, y[:-1], xt, yt


def load_strings():
    x, y, xt, yt = load()
    return x, y.astype(str), xt, yt
'''


@pytest.fixture
def user_package(tmp_path, monkeypatch) -> Iterator[Callable[..., str]]:
    """``write({"module": source, ...}) -> package name``: a fresh package on ``sys.path``
    (with ``mod`` = `USER_MODULE` unless given), forgotten again after the test."""
    names: list[str] = []

    def write(modules: dict[str, str] | None = None) -> str:
        name = f"userpkg_{uuid.uuid4().hex[:10]}"
        root = tmp_path / name
        root.mkdir()
        (root / "__init__.py").write_text("")
        for module, source in {"mod": USER_MODULE, **(modules or {})}.items():
            (root / f"{module}.py").write_text(textwrap.dedent(source))
        names.append(name)
        importlib.invalidate_caches()
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for module in list(sys.modules):
        if any(module == n or module.startswith(n + ".") for n in names):
            del sys.modules[module]
