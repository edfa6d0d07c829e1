"""The cutout family: a random size x size square of each training image (a segment of each
signal) set to zero, drawn from the regularizer's generator; exact plain training at size 0;
its domain."""

from __future__ import annotations

import pytest
import torch

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.families.cutout import CutoutFamily

SMALL = {"dataset": "digits", "n_train": 150, "model": "cnn", "width": 8, "depth": 2, "epochs": 2,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
             "family": "cutout"}


def test_declaration_and_names() -> None:
    family = families.get("cutout")
    assert not family.learnable and not family.stochastic and family.search_range == (1.0, 16.0)
    assert "not learnable" in family.description
    assert rho_names({**SMALL, "rho": 2.0}) == ("size",)
    assert rho_names({**SMALL, "dataset": "mnist1d", "rho": 2.0}) == ("size",)  # (C, L)


def test_size_zero_is_plain_training_bit_for_bit(assert_plain_training,
                                                 assert_not_plain_training) -> None:
    rows = assert_plain_training({**SMALL, "rho": 0.0})
    assert [k for k in rows[-1] if k.startswith("rho/")] == ["rho/size"]
    assert_not_plain_training({**SMALL, "rho": 4.0})


def test_rho_column_in_the_rows() -> None:
    rows = run_trial({**SMALL, "rho": 3.0})
    assert [r["rho/size"] for r in rows] == [3.0] * SMALL["epochs"]


@pytest.mark.parametrize("size", [1.0, 2.0, 3.0, 4.0])
def test_an_inner_square_has_size_squared_pixels_at_a_centre_per_example(size) -> None:
    family = CutoutFamily(size, torch.Generator().manual_seed(0))
    x = torch.ones(2000, 3, 16, 16)
    rng = torch.random.get_rng_state()
    out = family.transform_inputs(x, 1)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the global generator is untouched
    zero = out == 0
    assert torch.equal(zero[:, :1].expand_as(zero), zero)  # every channel alike
    counts = zero[:, 0].sum(dim=(1, 2))
    assert int(counts.max()) == size * size  # a patch away from the border
    assert int(counts.min()) >= 1  # clipped at the border, never empty (centre inside)
    rows = zero[:, 0].any(dim=2).float().argmax(dim=1)
    assert len(set(rows.tolist())) > 8  # centres differ from example to example


def test_a_segment_on_signals_and_nothing_at_size_zero() -> None:
    out = CutoutFamily(5.0, torch.Generator().manual_seed(1)).transform_inputs(
        torch.ones(500, 1, 40), 1)
    assert int((out == 0).sum(dim=(1, 2)).max()) == 5
    x = torch.rand(4, 1, 8, 8)
    assert CutoutFamily(0.0, None).transform_inputs(x, 1) is x


@pytest.mark.parametrize("config, match", [
    ({"rho": -1.0}, r"rho=-1.0: must be >= 0 \(family 'cutout'\)"),
    ({"rho": 2.0, "mode": "cross_reg"}, "'cutout' has no rho that cross_reg can learn"),
    ({"rho": {"side": 2.0}}, r"must name exactly \['size'\]"),
    ({"rho": 2.0, "dataset": "diabetes", "model": "mlp"}, "family='cutout' needs images"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config})
