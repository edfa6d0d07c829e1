"""The 2-D cnn's pool option: strided convolutions (the default, unchanged), 2x2 max-pooling,
or fractional max-pooling (Graham 2014) whose offsets come from a seeded stream of the
trial; at pool_ratio 2 fractional pooling is max-pooling to the bit; restore; refusals."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from restoring import columns, restored_run, same_weights

from trainables import ConfigError, check_config, rho_names
from trainables.models import FractionalMaxPool2d, attach_generator, build_model
from trainables.trial import Trial

SMALL = {"dataset": "digits", "n_train": 150, "model": "cnn", "width": 8, "epochs": 2,
         "batch_size": 32, "eval_batch_size": 256, "seed": 3, "device": "cpu"}
COMPARED = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "test_nll",
            "flops_train", "flops_eval")


def _train(config: dict) -> tuple[Trial, list[dict]]:
    trial = Trial(config)
    return trial, [trial.run_epoch() for _ in range(config["epochs"])]


def _pools(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, (torch.nn.MaxPool2d, FractionalMaxPool2d))]


def test_default_is_the_strided_network_and_pooling_replaces_the_strides() -> None:
    default = build_model("cnn", (1, 8, 8), 10)
    assert not _pools(default)
    assert [b.conv.stride for b in default.blocks] == [(1, 1), (2, 2), (2, 2)]
    assert default.head.in_features == 32 * 2 * 2
    for pool, side in (("max", 2), ("fractional", 3)):  # 8 -> 4 -> 2; 8 -> 5 -> 3 by sqrt(2)
        model = build_model("cnn", (1, 8, 8), 10, pool=pool)
        assert [b.conv.stride for b in model.blocks] == [(1, 1)] * 3
        assert len(_pools(model)) == 2 and model.head.in_features == 32 * side * side
        assert list(model.state_dict()) == list(default.state_dict())  # no new weights
    model = build_model("cnn", (1, 8, 8), 10, pool="fractional", pool_ratio=1.2)
    assert model.head.in_features == 32 * 5 * 5  # 8 -> 6 -> 5
    assert all(p.ratio == 1.2 for p in _pools(model))
    assert all(p.ratio == math.sqrt(2) for p in _pools(build_model("cnn", (1, 8, 8), 10,
                                                                   pool="fractional")))


def test_fractional_at_ratio_2_is_max_pooling_bit_for_bit() -> None:
    pooled, rows = _train({**SMALL, "pool": "fractional", "pool_ratio": 2.0})
    reference, reference_rows = _train({**SMALL, "pool": "max"})
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor, pooled.model.state_dict()[name]), name
    for row, ref in zip(rows, reference_rows):
        assert {k: row[k] for k in COMPARED} == {k: ref[k] for k in COMPARED}
    _, random_rows = _train({**SMALL, "pool": "fractional"})
    assert random_rows[-1]["test_loss"] != reference_rows[-1]["test_loss"]
    assert random_rows[-1]["flops_train"] > reference_rows[-1]["flops_train"]  # 5x5 maps, not 4x4


def test_max_pooling_is_a_different_network_from_the_strided_one() -> None:
    _, strided = _train(SMALL)
    _, pooled = _train({**SMALL, "pool": "max"})
    assert pooled[-1]["test_loss"] != strided[-1]["test_loss"]
    assert pooled[-1]["flops_train"] > strided[-1]["flops_train"]  # stride-1 convolutions


def test_offsets_come_from_the_attached_generator_per_example_and_not_in_evaluation() -> None:
    pool = FractionalMaxPool2d(math.sqrt(2))
    x = torch.randn(64, 4, 8, 8)
    pool.generator = torch.Generator().manual_seed(0)
    rng = torch.random.get_rng_state()
    out = pool(x)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the global generator is untouched
    assert out.shape == (64, 4, 5, 5)
    pool.generator = torch.Generator().manual_seed(0)
    assert torch.equal(pool(x), out)  # the generator decides the regions
    u = torch.rand((64, 1, 2), generator=torch.Generator().manual_seed(0)).expand(64, 4, 2)
    assert torch.equal(out, F.fractional_max_pool2d(x, 2, output_size=(5, 5),
                                                    _random_samples=u.contiguous()))
    pool.generator = torch.Generator().manual_seed(1)
    assert not torch.equal(pool(x), out)
    pool.eval()
    state = pool.generator.get_state()
    first = pool(x)
    assert torch.equal(pool(x), first) and torch.equal(pool.generator.get_state(), state)
    half = torch.full((64, 4, 2), 0.5)
    assert torch.equal(first, F.fractional_max_pool2d(x, 2, output_size=(5, 5), _random_samples=half))


def test_the_trial_attaches_a_stream_of_its_seed() -> None:
    trial = Trial({**SMALL, "pool": "fractional"})
    generators = {id(p.generator) for p in _pools(trial.model)}
    assert generators == {id(trial.members[0].model_generator)}
    assert "model_rng" in trial.state_dict()
    assert "model_rng" not in Trial({**SMALL, "pool": "max"}).state_dict()
    assert not attach_generator(build_model("mlp", (1, 8, 8), 10), torch.Generator())


def test_restore_at_epoch_2_continues_identically() -> None:
    run = restored_run({**SMALL, "pool": "fractional", "epochs": 4}, stop=2)
    keys = ("train_loss", "train_acc", "test_loss", "test_acc")
    assert columns(run.rows, keys) == columns(run.straight_rows, keys)
    assert same_weights(run.straight, run.resumed)


@pytest.mark.parametrize("config, match", [
    ({"pool": "avg"}, r"pool='avg': choose one of \('none', 'max', 'fractional'\)"),
    ({"pool": "max", "pool_ratio": 1.5}, "pool_ratio=1.5: is the reduction factor of "
                                         "pool='fractional'; leave it None otherwise"),
    ({"pool": "fractional", "pool_ratio": 1.0}, r"pool_ratio=1.0: must lie in \(1, 2\]"),
    ({"pool": "fractional", "pool_ratio": 2.5}, r"pool_ratio=2.5: must lie in \(1, 2\]"),
    ({"pool": "fractional", "model": "mlp"},
     r"model='mlp': pool='fractional': model 'mlp' has no 'pool' option \(models that have it: "
     r"\['cnn'\]\)"),
    ({"pool": "max", "dataset": "mnist1d"}, "pool='max' is an option of the 2-D cnn"),
    ({"pool": "fractional", "depth": 7}, r"cnn with depth 7 and pool=.fractional. shrinks input \(1, 8, 8\) "
                                         r"to nothing \(each pooling divides the sides by 1.414"),
    ({"pool": "max", "depth": 5}, "cnn with depth 5 and pool=.max. shrinks input"),
])
def test_bad_values_are_one_clear_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        rho_names({**SMALL, **config})  # builds the model on the CPU, no data needed
    with pytest.raises(ConfigError, match=match):
        check_config({**SMALL, **config}, files=False)
