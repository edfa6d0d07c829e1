"""The engine's forward-pass counters are exact.

Expected counts are computed from the data sizes, batch sizes, r and K alone (the project's
accounting: a forward of a batch of B samples counts B; a rho step of a stochastic family
costs K samples per row) and compared with equality, both with the engine's own counters and
with the rows the model actually saw (a forward hook), for a deterministic family (L2 norm),
a stochastic one (noise, through a hand-made noise point) and both reg-batch modes.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainables.engine import Engine
from trainables.families.noise import NoiseFamily
from trainables.regularizers import NormFamily


class _NoisePoint(nn.Module):
    """A NoiseInjection look-alike: ``x + sigma * N(0, 1)``, sigma/generator set by the family."""

    def __init__(self) -> None:
        super().__init__()
        self.sigma: torch.Tensor | None = None
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sigma is None:
            return x
        return x + self.sigma * torch.randn(x.shape, generator=self.generator, dtype=x.dtype)


class _Tiny(nn.Module):
    def __init__(self, d_in: int = 3, hidden: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.noise = _NoisePoint()
        self.fc2 = nn.Linear(hidden, 1)
        self.rows_seen = 0  # counted by a forward pre-hook: what really went through

        def count(_module, args):
            self.rows_seen += args[0].shape[0]

        self.register_forward_pre_hook(count)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.noise(torch.tanh(self.fc1(x))))


def _expected_rho_steps(epochs: int, steps_per_epoch: int, r: int) -> int:
    """rho steps fire when the run's theta-step counter is a multiple of r."""
    return (epochs * steps_per_epoch) // r


def _make(family: str, r: int, K: int, batch: int, reg_batch: int, full: bool):
    torch.manual_seed(0)
    model = _Tiny()
    gen = torch.Generator().manual_seed(1)
    if family == "noise":
        reg = NoiseFamily([model.noise], {"s": 0.3}, learned=True, generator=gen)
    else:
        reg = NormFamily([model.fc1], "l2", rho=None, learned=True, names=["a"])
    rho_params = reg.rho_parameters()
    assert rho_params, "the family must learn rho for rho steps to happen"
    engine = Engine(
        model, reg, task="regression",
        theta_optimizer=torch.optim.SGD([p for p in model.parameters()], lr=1e-2),
        rho_optimizer=torch.optim.SGD(rho_params, lr=1e-2),
        r=r, K=K, batch_size=batch, reg_batch_size=reg_batch,
        shuffle_generator=torch.Generator().manual_seed(2),
        reg_generator=torch.Generator().manual_seed(3), reg_full_batch=full)
    return model, reg, engine


@pytest.mark.parametrize("family", ["l2", "noise"])
@pytest.mark.parametrize("n_train,batch,n_reg,reg_batch,r,K,full", [
    (37, 8, 11, 5, 3, 4, False),  # short last batch, r does not divide steps per epoch
    (40, 10, 9, 20, 1, 3, False),  # reg batch larger than the split: capped at n_reg
    (23, 23, 7, 3, 2, 5, True),  # full batch both sides
    (50, 7, 6, 4, 5, 1, False),  # K = 1
])
def test_counters_are_exact(family, n_train, batch, n_reg, reg_batch, r, K, full):
    model, reg, engine = _make(family, r, K, batch, reg_batch, full)
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(n_train, 3, generator=g), torch.randn(n_train, generator=g)
    xr, yr = torch.randn(n_reg, 3, generator=g), torch.randn(n_reg, generator=g)
    epochs = 3
    steps = math.ceil(n_train / batch)
    k = K if family == "noise" else 1  # only a stochastic family pays K samples per row
    reg_rows = n_reg if full else min(reg_batch, n_reg)
    total_train = total_reg = total_rho_steps = 0
    for _ in range(epochs):
        stats = engine.train_epoch(x, y, xr, yr)
        assert stats.theta_steps == steps
        total_train += stats.counters.fwd_train
        total_reg += stats.counters.fwd_reg
        total_rho_steps += stats.rho_steps
        assert stats.counters.fwd_train == n_train  # every training row exactly once per epoch
    n_rho = _expected_rho_steps(epochs, steps, r)
    assert total_rho_steps == n_rho
    assert total_train == epochs * n_train
    assert total_reg == n_rho * k * reg_rows
    assert model.rows_seen == total_train + total_reg  # the counters are what really ran

    # evaluation: n_samples draws of every row
    before = model.rows_seen
    n_eval = reg.eval_samples(K)
    assert n_eval == (K if family == "noise" else 1)
    _, cost, _ = engine.predict(xr, batch_size=4, n_samples=n_eval)
    assert cost == n_eval * n_reg
    assert model.rows_seen - before == cost


def test_no_rho_steps_without_regularization_split():
    model, _, engine = _make("noise", r=1, K=4, batch=8, reg_batch=8, full=False)
    x, y = torch.randn(20, 3), torch.randn(20)
    stats = engine.train_epoch(x, y)
    assert stats.rho_steps == 0 and stats.counters.fwd_reg == 0
    assert stats.counters.fwd_train == 20 == model.rows_seen
