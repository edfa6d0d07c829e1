"""The stochastic_depth family: one death rate per residual block (resmlp, resnet18), a Bernoulli
gate per example on the branch in training mode only, exact plain training at 0, its domain."""

from __future__ import annotations

import pytest
import torch

from trainables import (
    ConfigError,
    TrialConfig,
    check_config,
    families,
    rho_names,
    run_trial,
)
from trainables.families.stochastic_depth import StochasticDepthFamily
from trainables.models.resmlp import ResidualBlock

SMALL = {"dataset": "digits", "n_train": 150, "model": "resmlp", "width": 16, "depth": 3,
             "epochs": 2, "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256,
             "seed": 3, "family": "stochastic_depth"}


def test_declaration_and_one_death_rate_per_block() -> None:
    family = families.get("stochastic_depth")
    assert not family.learnable and not family.stochastic and family.search_range == (0.02, 0.5)
    assert "not learnable" in family.description
    assert rho_names({**SMALL, "rho": 0.1}) == ("death_0", "death_1", "death_2")
    resnet = rho_names({"family": "stochastic_depth", "model": "resnet18", "dataset": "cifar10"})
    assert resnet == tuple(f"death_{i}" for i in range(8))  # 4 stages x 2 BasicBlocks


def test_death_zero_is_plain_training_bit_for_bit(assert_plain_training,
                                                  assert_not_plain_training) -> None:
    rows = assert_plain_training({**SMALL, "rho": 0.0})
    assert [k for k in rows[-1] if k.startswith("rho/")] == ["rho/death_0", "rho/death_1",
                                                             "rho/death_2"]
    assert_not_plain_training({**SMALL, "rho": {"death_0": 0.0, "death_1": 0.0, "death_2": 0.5}})


def test_rho_columns_in_the_rows() -> None:
    rows = run_trial({**SMALL, "rho": {"death_0": 0.0, "death_1": 0.25, "death_2": 0.5}})
    assert [r["rho/death_2"] for r in rows] == [0.5] * SMALL["epochs"]


def test_the_branch_is_dropped_per_example_in_training_only() -> None:
    torch.manual_seed(0)
    block = ResidualBlock(8, 0.0, True)
    x = torch.randn(400, 8)
    branch = block.branch(x).detach()
    StochasticDepthFamily([block.branch], [0.3], ["death_0"], torch.Generator().manual_seed(0))
    rng = torch.random.get_rng_state()
    out = block(x).detach()
    assert torch.equal(torch.random.get_rng_state(), rng)  # the global generator is untouched
    dropped = torch.isclose(out, x).all(dim=1)
    kept = torch.isclose(out, x + branch / 0.7, atol=1e-6).all(dim=1)
    assert bool((dropped ^ kept).all())  # each example: its whole branch, or none of it
    assert abs(float(dropped.float().mean()) - 0.3) < 0.07
    block.eval()
    assert torch.equal(block(x), x + branch)  # evaluation: every block, unscaled


def test_a_resnet18_block_is_gated_before_the_addition() -> None:
    from trainables.models import build_model

    torch.manual_seed(0)
    net = build_model("resnet18", (3, 32, 32), 10)
    family = families.get("stochastic_depth")
    config = TrialConfig.from_dict({"family": "stochastic_depth", "model": "resnet18",
                                    "dataset": "cifar10", "rho": 0.9})
    family.build(config, net, (3, 32, 32), torch.Generator().manual_seed(0))
    x = torch.randn(4, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        full = net(x)
    net.train()
    for m in net.modules():  # BatchNorm in eval: the difference is the gates' alone
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    with torch.no_grad():
        gated = net(x)
    assert not torch.allclose(gated, full)


@pytest.mark.parametrize("config, match", [
    ({"rho": 1.0}, r"rho=1.0: must lie in \[0, 1\) \(a drop probability\)"),
    ({"rho": -0.1}, r"rho=-0.1: must lie in \[0, 1\)"),
    ({"rho": 0.1, "mode": "cross_reg"}, "'stochastic_depth' has no rho that cross_reg can learn"),
    ({"rho": 0.1, "model": "mlp"}, "family='stochastic_depth' needs residual blocks"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config})
