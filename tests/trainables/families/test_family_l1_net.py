"""The l1_net family: every Linear / Conv weight's L1 norm held at rho times its initial L1 norm
(level-set form), fixed and learned (in log space), and its domain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.models import build_model
from trainables.trial import Trial

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 2, "epochs": 2,
             "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
             "family": "l1_net"}
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def _l1(model: nn.Module) -> list[float]:
    return [float(m.weight.detach().abs().sum()) for m in model.modules() if isinstance(m, LAYERS)]


def test_declaration_and_names() -> None:
    family = families.get("l1_net")
    assert family.learnable and not family.stochastic and family.search_range == (0.1, 10.0)
    assert rho_names({**SMALL, "rho": 0.5}) == ("l1rel_0", "l1rel_1", "l1rel_2")
    assert rho_names({**SMALL, "model": "cnn", "depth": 3, "rho": 0.5}) == (
        "l1rel_0", "l1rel_1", "l1rel_2", "l1rel_3")


@pytest.mark.parametrize("model, extra", [("mlp", {}), ("cnn", {"width": 8})])
def test_fixed_rho_holds_each_norm_at_its_multiple_of_the_initial_norm(model, extra) -> None:
    torch.manual_seed(SMALL["seed"])  # the trial's initialisation: the oracle's initial norms
    initial = _l1(build_model(model, (1, 8, 8), 10, width=extra.get("width", 16), depth=2))
    rho = {f"l1rel_{i}": value for i, value in enumerate((0.5, 2.0, 1.0))}
    trial = Trial({**SMALL, "model": model, **extra, "rho": rho})
    for _ in range(SMALL["epochs"]):
        row = trial.run_epoch()
    for i, norm in enumerate(_l1(trial.model)):
        assert norm == pytest.approx(rho[f"l1rel_{i}"] * initial[i], rel=1e-5)
        assert row[f"rho/l1rel_{i}"] == pytest.approx(rho[f"l1rel_{i}"])


def test_shrinking_the_sphere_zeroes_weights() -> None:
    """The projection soft-thresholds: a tenth of a uniform init's L1 norm keeps about a third
    of its entries (1 - sqrt(0.1) of them become exactly 0)."""
    trial = Trial({**SMALL, "rho": 0.1})
    for w in [m.weight.detach() for m in trial.model.modules() if isinstance(m, nn.Linear)]:
        assert float((w == 0).float().mean()) == pytest.approx(1 - 0.1 ** 0.5, abs=0.08)


def test_cross_reg_moves_rho_by_fractions_and_the_norms_follow() -> None:
    torch.manual_seed(SMALL["seed"])
    initial = _l1(build_model("mlp", (1, 8, 8), 10, width=16, depth=2))
    trial = Trial({**SMALL, "mode": "cross_reg", "rho": 1.0, "rho_lr": 0.05})
    for _ in range(SMALL["epochs"]):
        row = trial.run_epoch()
    assert row["fwd_reg"] > 0
    assert all(row[f"rho/l1rel_{i}"] != pytest.approx(1.0, abs=1e-2) for i in range(3))
    for i, norm in enumerate(_l1(trial.model)):
        assert norm == pytest.approx(row[f"rho/l1rel_{i}"] * initial[i], rel=1e-4)
    rows = run_trial({**SMALL, "rho": 0.7, "epochs": 1})
    assert [k for k in rows[0] if k.startswith("rho/")] == ["rho/l1rel_0", "rho/l1rel_1",
                                                            "rho/l1rel_2"]


@pytest.mark.parametrize("config, match", [
    ({"rho": -0.5}, r"rho=-0.5: must be >= 0 \(family 'l1_net'\)"),
    ({"rho": 0.0, "mode": "cross_reg"}, r"rho=0.0: cross_reg learns it in log space"),
    ({"rho": {"l1rel_0": 0.1}}, r"must name exactly \['l1rel_0', 'l1rel_1', 'l1rel_2'\]"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config})


DIRECTION = {"dataset": "mnist1d", "model": "mlp", "batch_size": 100, "reg_batch_size": 100,
                 "family": "l1_net", "mode": "cross_reg", "K": 4, "r": 1, "rho_lr": 1e-2,
                 "rho": 1.0, "seed": 0}


@pytest.mark.slow
def test_the_heads_norm_shrinks_where_a_wide_mlp_overfits() -> None:
    """Less rho is more regularization. The head's norm is what sets the logits; the
    LayerNorm'd hidden layers, whose scale the next LayerNorm undoes, go their own way."""
    rows = run_trial({**DIRECTION, "width": 512, "depth": 2, "n_train": 1000, "epochs": 20})
    assert rows[-1]["train_acc"] > rows[-1]["val_acc"] + 0.2  # it does overfit
    assert rows[-1]["rho/l1rel_2"] < 0.9  # from 1.0 (seeds 0-2: 0.77, 0.81, 0.37)


@pytest.mark.slow
def test_the_heads_norm_grows_where_a_narrow_mlp_underfits() -> None:
    rows = run_trial({**DIRECTION, "width": 16, "depth": 1, "n_train": 2000, "epochs": 10})
    assert rows[-1]["train_acc"] < 0.6  # it cannot even fit the training split
    assert rows[-1]["rho/l1rel_1"] > 1.2  # from 1.0 (seeds 0-2: 2.55, 1.40, 1.46)
