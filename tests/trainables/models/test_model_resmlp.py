"""The resmlp model: shapes, residual blocks whose branch is one submodule, noise points and
dropout sites in forward order, keys independent of p, seeded construction, training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import rho_names, run_trial
from trainables.models import MODELS, build_model, noise_points
from trainables.models.resmlp import ResidualBlock


@pytest.mark.parametrize("shape", [(64,), (1, 40), (1, 8, 8)])
def test_shapes(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    m = build_model("resmlp", shape, 7, width=16)
    assert m(torch.randn(5, *shape)).shape == (5, 7)


def test_spec_defaults_and_knobs() -> None:
    spec = MODELS["resmlp"]
    assert spec.uses_width and spec.uses_depth
    m = build_model("resmlp", (40,), 10)
    assert m.stem.out_features == 512 and len(m.blocks) == 2
    assert len(build_model("resmlp", (40,), 10, depth=0).blocks) == 0


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_one_block_noise_point_and_dropout_site_per_block(depth: int) -> None:
    m = build_model("resmlp", (20,), 3, width=8, depth=depth)
    blocks = [b for b in m.modules() if isinstance(b, ResidualBlock)]
    assert len(blocks) == len(noise_points(m)) == depth
    assert len([d for d in m.modules() if isinstance(d, nn.Dropout)]) == depth


def test_a_block_adds_its_branch_to_its_input() -> None:
    torch.manual_seed(0)
    block = ResidualBlock(6, 0.0, True)
    x = torch.randn(3, 6)
    assert torch.equal(block(x), x + block.branch(x))


def test_noise_points_in_forward_order() -> None:
    m = build_model("resmlp", (20,), 3, width=8, depth=3)
    calls: list[int] = []
    for k, p in enumerate(noise_points(m)):
        p.register_forward_hook(lambda mod, i, o, k=k: calls.append(k))
    m(torch.randn(2, 20))
    assert calls == [0, 1, 2]


def test_keys_do_not_depend_on_dropout_or_norm_free_build() -> None:
    a = build_model("resmlp", (20,), 3, width=8, dropout=0.0).state_dict().keys()
    b = build_model("resmlp", (20,), 3, width=8, dropout=0.5).state_dict().keys()
    assert a == b
    plain = build_model("resmlp", (20,), 3, width=8, norm=False)
    assert not [m for m in plain.modules() if isinstance(m, nn.LayerNorm)]


def test_seeded_construction_is_deterministic() -> None:
    torch.manual_seed(5)
    a = build_model("resmlp", (1, 40), 10).state_dict()
    torch.manual_seed(5)
    b = build_model("resmlp", (1, 40), 10).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_it_trains_and_carries_the_noise_family() -> None:
    config = {"dataset": "digits", "n_train": 150, "model": "resmlp", "width": 16, "depth": 2,
              "epochs": 2, "batch_size": 32, "seed": 0}
    rows = run_trial(config)
    assert rows[-1]["train_acc"] > rows[0]["train_acc"]
    assert rho_names({**config, "family": "noise"}) == ("sigma_0", "sigma_1")
