"""The mixup family: each training batch mixed with a permutation of itself (inputs and
one-hot labels alike) by lam ~ Beta(alpha, alpha) drawn from the regularizer's generator;
exact plain training at alpha 0; clean evaluation; restore; its domain."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from restoring import columns, restored_run

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.families.mixup import MixupFamily, beta_quantile

SMALL = {"dataset": "digits", "n_train": 150, "model": "mlp", "width": 16, "depth": 1, "epochs": 2,
         "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
         "family": "mixup"}


def test_declaration_and_names() -> None:
    family = families.get("mixup")
    assert not family.learnable and not family.stochastic and family.networks == 1
    assert family.search_range == (0.05, 2.0)
    assert "not learnable" in family.description and "push alpha to 0" in family.description
    assert rho_names({**SMALL, "rho": 0.4}) == ("alpha",)
    assert rho_names({**SMALL, "model": "cnn", "rho": 0.4}) == ("alpha",)


def test_alpha_zero_is_plain_training_bit_for_bit(assert_plain_training,
                                                  assert_not_plain_training) -> None:
    rows = assert_plain_training({**SMALL, "rho": 0.0})
    assert [k for k in rows[-1] if k.startswith("rho/")] == ["rho/alpha"]
    assert_not_plain_training({**SMALL, "rho": 0.4})


def test_rho_column_in_the_rows() -> None:
    rows = run_trial({**SMALL, "rho": 0.3})
    assert [r["rho/alpha"] for r in rows] == [0.3] * SMALL["epochs"]
    assert all(0.0 <= r["train_acc"] <= 1.0 for r in rows)


def test_a_batch_is_mixed_with_a_permutation_of_itself_inputs_and_labels_alike() -> None:
    x, y = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
    family = MixupFamily(0.4, 10, torch.Generator().manual_seed(0))
    rng = torch.random.get_rng_state()
    mixed, targets = family.transform_batch(x, y)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the global generator is untouched
    lam, perm = MixupFamily(0.4, 10, torch.Generator().manual_seed(0)).draw(64, x.device)
    assert sorted(perm.tolist()) == list(range(64)) and 0.0 <= lam <= 1.0
    assert torch.equal(mixed, lam * x + (1.0 - lam) * x[perm])  # the generator decides it all
    onehot = torch.nn.functional.one_hot(y, 10).float()
    assert torch.equal(targets, lam * onehot + (1.0 - lam) * onehot[perm])
    assert torch.allclose(targets.sum(dim=1), torch.ones(64))
    again, _ = MixupFamily(0.4, 10, torch.Generator().manual_seed(1)).transform_batch(x, y)
    assert not torch.equal(again, mixed)


def test_regression_targets_mix_as_values() -> None:
    x, y = torch.rand(20, 5), torch.rand(20)
    lam, perm = MixupFamily(1.0, 1, torch.Generator().manual_seed(2)).draw(20, x.device)
    mixed, targets = MixupFamily(1.0, 1, torch.Generator().manual_seed(2)).transform_batch(x, y)
    assert torch.equal(targets, lam * y + (1.0 - lam) * y[perm])
    assert torch.equal(mixed, lam * x + (1.0 - lam) * x[perm])


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_lam_follows_beta_alpha_alpha(alpha) -> None:
    family = MixupFamily(alpha, 2, torch.Generator().manual_seed(5))
    lams = np.array([family.draw(4, torch.device("cpu"))[0] for _ in range(4000)])
    variance = 1.0 / (4.0 * (2.0 * alpha + 1.0))  # of Beta(alpha, alpha), whose mean is 1/2
    assert abs(lams.mean() - 0.5) < 0.03
    assert abs(lams.var() - variance) < 0.1 * variance
    assert beta_quantile(1.0, 0.3) == pytest.approx(0.3)  # Beta(1, 1) is uniform


def test_alpha_zero_draws_nothing_and_evaluation_sees_clean_inputs() -> None:
    x, y = torch.rand(8, 3), torch.randint(0, 2, (8,))
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    mixed, targets = MixupFamily(0.0, 2, generator).transform_batch(x, y)
    assert mixed is x and targets is y and torch.equal(generator.get_state(), state)
    family = MixupFamily(0.5, 2, generator)
    assert family.transform_inputs(x, 1) is x and family.eval_samples(8) == 1


def test_restore_at_epoch_2_continues_identically() -> None:
    run = restored_run({**SMALL, "rho": 0.5, "epochs": 4, "device": "cpu"}, stop=2)
    keys = ("train_loss", "train_acc", "test_loss", "rho/alpha")
    assert columns(run.rows, keys) == columns(run.straight_rows, keys)


@pytest.mark.parametrize("config, match", [
    ({"rho": -0.5}, r"rho=-0.5: must be >= 0 \(the Beta\(alpha, alpha\) parameter; 0 = no mixing\) "
                    r"\(family 'mixup'\)"),
    ({"rho": 0.4, "mode": "cross_reg"}, "'mixup' has no rho that cross_reg can learn"),
    ({"rho": {"beta": 0.4}}, r"must name exactly \['alpha'\]"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config})
