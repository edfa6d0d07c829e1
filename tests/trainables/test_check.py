"""check_config and rho_names: what a driver learns before any training, without the data
files or a GPU, leaving the caller's random numbers alone."""

from __future__ import annotations

import pytest
import torch

from trainables import ConfigError, TrialConfig, check_config, rho_names


def test_a_good_config_comes_back_validated() -> None:
    cfg = check_config({"dataset": "mnist1d", "model": "cnn", "family": "noise", "rho": 0.2})
    assert isinstance(cfg, TrialConfig) and cfg.model == "cnn"


@pytest.mark.parametrize("config, match", [
    ({"dataset": "digits", "n_train": 5000},
     r"dataset='digits': n_train=5000 exceeds the training pool of 'digits' \(1258 rows\)"),
    ({"dataset": "nosuch"}, r"dataset='nosuch': unknown dataset"),
    ({"model": "transformer"}, r"model='transformer': unknown model"),
    ({"model": "vgg16"}, r"model='vgg16': vgg16 needs image inputs"),
    ({"family": "l1", "rho": {"l1_0": 1.0}}, r"rho=.*must name exactly \['l1_0', 'l1_1', 'l1_2'\]"),
])
def test_what_a_trial_would_refuse_is_one_config_error(config, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_config(config)


def test_files_and_device_checks_can_be_left_to_the_workers(tmp_path) -> None:
    files = {"dataset": "cifar10", "data_dir": str(tmp_path), "model": "cnn"}
    with pytest.raises(ConfigError, match="missing"):
        check_config(files)
    assert check_config(files, files=False).dataset == "cifar10"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            check_config({"device": "cuda"})
        assert check_config({"device": "cuda"}, device=False).device == "cuda"


def test_rho_names_for_a_search_space() -> None:
    assert rho_names({"family": "noise", "model": "mlp", "depth": 4}) == tuple(
        f"sigma_{i}" for i in range(4))
    assert rho_names(TrialConfig(family="none")) == ()
    assert rho_names({"family": "l2", "model": "linear", "dataset": "diabetes"}) == ("l2_0",)


def test_checks_leave_the_global_generator_untouched() -> None:
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    check_config({"family": "noise", "model": "cnn", "dataset": "mnist1d", "rho": 0.1})
    rho_names({"family": "weight_norm", "model": "mlp"})
    assert torch.equal(torch.random.get_rng_state(), state)
