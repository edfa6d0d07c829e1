"""trivial_augment=True (Mueller & Hutter 2021, torchvision's TrivialAugmentWide): it changes
the training inputs, draws only from the run's own stream (deterministic given the seed, the
process's generator left as it was, a restore continues identically), costs no forward pass,
and a dataset that is not images is one clear error."""

from __future__ import annotations

import pytest
import torch
from restoring import columns, restored_run

from trainables import ConfigError, check_config, run_trial
from trainables.datasets import load_splits
from trainables.trivial_augment import TrivialAugment

SMALL = {"dataset": "digits", "n_train": 200, "model": "mlp", "width": 16, "depth": 2, "epochs": 2,
         "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 3,
         "device": "cpu", "family": "noise", "rho": 0.0, "trivial_augment": True}
COMPARED = ("train_loss", "val_loss", "test_loss", "test_acc", "fwd_train", "flops_train")


def _augment(seed: int = 0) -> tuple[TrivialAugment, torch.Tensor]:
    splits = load_splits("digits", n_train=200, split_seed=0)
    return TrivialAugment(splits, torch.Generator().manual_seed(seed)), splits.train.x[:64]


def test_it_changes_the_inputs_and_keeps_their_shape_and_scale() -> None:
    augment, x = _augment()
    out = augment(x)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    # an unchanged image moves only by the uint8 rounding: half a level of 255 over the
    # digits' range 0..16, about 0.005 once normalised
    changed = (out - x).abs().flatten(1).amax(dim=1) > 0.01
    assert 0.5 < float(changed.float().mean()) < 1.0  # most images change; identity ops do not
    assert augment.factor == 4  # 8x8 digits are augmented at 32x32


def test_draws_come_from_its_own_generator_only() -> None:
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    first, x = _augment(seed=1)
    a = first(x)
    assert torch.equal(torch.random.get_rng_state(), before)  # the process's generator untouched
    second, _ = _augment(seed=1)
    torch.manual_seed(99)  # whatever the global state, the same stream gives the same batch
    assert torch.equal(second(x), a)
    third, _ = _augment(seed=2)
    assert not torch.equal(third(x), a)
    assert not torch.equal(first(x), a)  # the stream moves on from batch to batch


def test_a_run_is_deterministic_given_its_seed_and_differs_from_plain_training() -> None:
    rows = run_trial(SMALL)
    again = run_trial(SMALL)
    plain = run_trial({**SMALL, "trivial_augment": False})
    other = run_trial({**SMALL, "seed": 4})
    assert [{k: r[k] for k in COMPARED} for r in rows] == [{k: r[k] for k in COMPARED} for r in again]
    assert rows[-1]["train_loss"] != plain[-1]["train_loss"]
    assert rows[-1]["train_loss"] != other[-1]["train_loss"]
    # no forward pass and no FLOPs of its own: the same counts as plain training
    assert [(r["fwd_train"], r["flops_train"]) for r in rows] == [
        (r["fwd_train"], r["flops_train"]) for r in plain]


def test_restore_at_epoch_1_continues_identically() -> None:
    run = restored_run({**SMALL, "epochs": 3}, stop=1)
    assert columns(run.rows, COMPARED) == columns(run.straight_rows, COMPARED)


@pytest.mark.parametrize("config, match", [
    ({"dataset": "mnist1d"}, r"trivial_augment=True: dataset 'mnist1d' has per-sample shape \(1, 40\); "
                             r"TrivialAugmentWide needs images"),
    ({"dataset": "diabetes"}, r"dataset 'diabetes' has per-sample shape \(10,\)"),
])
def test_a_dataset_that_is_not_images_is_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, "n_train": None, **config})
