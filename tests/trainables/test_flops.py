"""FLOPs per row: the measured figure of each step kind equals a closed-form count of the
MLP's matmuls, and a trial's flops columns are those figures times its step counts.

The closed form (what FlopCounterMode counts: matmuls, not the elementwise work): a Linear
of in -> out on N rows costs 2*N*in*out forward; its backward costs as much again for the
input gradient where autograd needs one and again for the weight gradient where it needs
that. A theta step needs every weight gradient and every input gradient but the raw
inputs'. A rho step of the noise family needs no weight gradient and no input gradient
before the first noise point (after the first hidden layer's norm): only the input
gradients of the layers after it. An evaluation is a forward.
"""

from __future__ import annotations

import math

import pytest
import torch

from trainables import run_trial
from trainables.engine import FlopMeter
from trainables.trial import Trial

IN, OUT = 64, 10  # digits: 8x8 pixels (the MLP flattens them), 10 classes
X = (1, 8, 8)  # one input as the dataset gives it


def _matmuls(width: int, depth: int) -> tuple[int, int, int]:
    """in*out of the first Linear, of the hidden-to-hidden ones together, and of the head."""
    first = IN * width if depth else IN * OUT
    hidden = (depth - 1) * width * width if depth else 0
    head = width * OUT if depth else 0
    return first, hidden, head


def train_step_flops(rows: int, width: int, depth: int) -> int:
    first, hidden, head = _matmuls(width, depth)
    forward = 2 * rows * (first + hidden + head)
    weight_grads = 2 * rows * (first + hidden + head)
    input_grads = 2 * rows * (hidden + head)  # not the first layer's: its input is the data
    return forward + weight_grads + input_grads


def rho_step_flops(rows: int, samples: int, width: int, depth: int) -> int:
    first, hidden, head = _matmuls(width, depth)
    n = rows * samples
    forward = 2 * n * (first + hidden + head)
    input_grads = 2 * n * (hidden + head)  # back to the first noise point, after layer 1
    return forward + input_grads


def eval_flops(rows: int, samples: int, width: int, depth: int) -> int:
    first, hidden, head = _matmuls(width, depth)
    return 2 * rows * samples * (first + hidden + head)


BASE = {"dataset": "digits", "n_train": 200, "model": "mlp", "family": "noise",
        "mode": "cross_reg", "rho": 0.2, "batch_size": 32, "reg_batch_size": 16,
        "eval_batch_size": 64, "seed": 1}


@pytest.mark.parametrize("width,depth", [(64, 2), (16, 1), (24, 3)])
def test_train_and_rho_step_flops_equal_the_closed_form(width, depth):
    trial = Trial({**BASE, "width": width, "depth": depth, "K": 3, "r": 1, "epochs": 1,
                   "eval_samples": 2})
    trial.run_epoch()
    per_step = trial.engine.flop_meter.per_step
    assert per_step[("train", (32, *X), 1)] == train_step_flops(32, width, depth)
    assert per_step[("train", (20, *X), 1)] == train_step_flops(20, width, depth)  # 180 = 5*32+20
    assert per_step[("reg", (16, *X), 3)] == rho_step_flops(16, 3, width, depth)
    # the 20 reg rows, with eval_samples draws (not K)
    assert per_step[("eval", (20, *X), 2)] == eval_flops(20, 2, width, depth)
    assert ("eval", (20, *X), 3) not in per_step


def test_cross_reg_flops_columns_are_step_figures_times_step_counts():
    """r=4 does not divide the 6 steps per epoch (the rho steps fall 1, 2, 1, 2 per epoch)
    and the last training batch is short (180 = 5 * 32 + 20); K=3 samples per row of a rho step,
    E=5 per row of an evaluation, plus the test split's one-draw noise-off pass."""
    width, depth, K, r, epochs, E = 64, 2, 3, 4, 4, 5
    trial = Trial({**BASE, "width": width, "depth": depth, "K": K, "r": r, "epochs": epochs,
                   "eval_samples": E})
    rows = [trial.run_epoch() for _ in range(epochs)]
    n_train, n_reg, n_test = rows[0]["n_train"], rows[0]["n_reg"], rows[0]["n_test"]
    assert (n_train, n_reg) == (180, 20)
    steps = math.ceil(n_train / 32)
    full, last = divmod(n_train, 32)
    test_full, test_last = divmod(n_test, 64)
    meter = trial.engine.flop_meter
    done = 0
    for row in rows:
        rho_steps = (done + steps) // r - done // r  # every r-th theta step of the run
        done += steps
        # the closed form ...
        assert row["flops_train"] == full * train_step_flops(32, width, depth) \
            + train_step_flops(last, width, depth)
        assert row["flops_reg"] == rho_steps * rho_step_flops(16, K, width, depth)
        assert row["flops_eval"] == eval_flops(n_reg, E, width, depth)
        assert row["flops_test"] == sum(
            test_full * eval_flops(64, n, width, depth)
            + (eval_flops(test_last, n, width, depth) if test_last else 0) for n in (E, 1))
        # ... and the measured per-step figures times the step counts
        assert row["flops_train"] == full * meter.flops("train", (32, *X), 1) \
            + meter.flops("train", (last, *X), 1)
        assert row["flops_reg"] == rho_steps * meter.flops("reg", (16, *X), K)
    assert [row["flops_reg"] > 0 for row in rows] == [True] * epochs
    assert sorted({k[0] for k in meter.per_step}) == ["eval", "reg", "train"]


def test_flop_meter_measures_each_shape_once():
    meter = FlopMeter()
    a, b = torch.randn(4, 3), torch.randn(3, 5)
    with meter.measure("eval", a.shape, 1):
        a @ b
    with meter.measure("eval", a.shape, 1):  # cached: the block runs uncounted
        a @ b @ b.T
    assert meter.per_step == {("eval", (4, 3), 1): 2 * 4 * 3 * 5}


def test_norm_family_rho_step_is_counted():
    """A parametrised weight (the leaf behind the level set) under torch.autograd.grad: the
    counter must neither fail nor miss the rho step's backward."""
    rows = run_trial({**BASE, "family": "weight_norm", "rho": 1.0, "norm": False, "width": 32,
                      "K": 4, "r": 2, "epochs": 1})
    assert rows[0]["flops_reg"] > 0 and rows[0]["flops_train"] > 0


def test_fixed_mode_has_no_rho_flops():
    row = run_trial({**BASE, "mode": "fixed", "rho": 0.0, "width": 32, "epochs": 1})[0]
    assert row["flops_reg"] == 0 and row["fwd_reg"] == 0
    assert row["flops_train"] == 5 * train_step_flops(32, 32, 2) + train_step_flops(20, 32, 2)
    assert row["flops_eval"] == eval_flops(20, 1, 32, 2)  # sigma 0: one sample
