"""A user's own model and dataset, named by reference: a run end to end with the noise family
learning one sigma per attached point, and every way a reference can be wrong as one clear
ConfigError from check_config, before any training."""

from __future__ import annotations

import numpy as np
import pytest

from trainables import ConfigError, check_config, rho_names, run_trial
from trainables.data import load_splits

RUN = {"n_train": 160, "reg_fraction": 0.25, "epochs": 4, "batch_size": 32, "reg_batch_size": 40,
           "eval_batch_size": 512, "family": "noise", "mode": "cross_reg", "rho": 0.3, "K": 2,
           "rho_lr": 0.05, "lr": 1e-2, "seed": 0}


def test_users_model_and_data_learn_one_sigma_per_norm_layer(user_package) -> None:
    pkg = user_package()
    config = {**RUN, "model": f"{pkg}.mod:build", "dataset": f"{pkg}.mod:load"}
    assert rho_names(config) == ("sigma_0", "sigma_1")  # two LayerNorms, two points
    rows = run_trial(config)
    assert len(rows) == RUN["epochs"]
    assert sorted(k for k in rows[-1] if k.startswith("rho/")) == ["rho/sigma_0", "rho/sigma_1"]
    for name in ("rho/sigma_0", "rho/sigma_1"):
        assert abs(rows[-1][name] - 0.3) > 1e-3, name  # learned: moved from its start
    last = rows[-1]
    assert (last["n_train"], last["n_reg"], last["n_test"]) == (120, 40, 340)
    assert last["fwd_reg"] > 0 and last["test_acc"] > 0.6  # three classes: chance is 1/3


def test_users_data_sets_task_classes_and_shapes(user_package) -> None:
    pkg = user_package()
    splits = load_splits(f"{pkg}.mod:load", reg_fraction=0.25)
    assert splits.task == "classification" and splits.n_classes == 3
    assert splits.input_shape == (12,) and len(splits.test) == 340
    reg = load_splits(f"{pkg}.mod:load_regression", fold=-1)  # tensors and float targets
    assert reg.task == "regression" and reg.n_classes == 0 and len(reg.train) == 100
    assert float(reg.train.y.mean()) == pytest.approx(0.0, abs=1e-6)  # standardised as built-ins
    row = run_trial({"dataset": f"{pkg}.mod:load_regression", "model": f"{pkg}.mod:build",
                     "epochs": 1, "n_train": 80})[0]
    assert row["test_loss"] > 0 and np.isnan(row["test_acc"])


@pytest.mark.parametrize("key, reference, match", [
    ("model", "no_such_pkg_zz.mod:build", r"module 'no_such_pkg_zz.mod' not found"),
    ("model", "{pkg}.mod:nope", r"has no attribute 'nope'"),
    ("model", "{pkg}.mod:NOT_CALLABLE", r"is a int, not a function build\(input_shape, n_out\)"),
    ("model", "{pkg}.mod:build_not_a_module", r"returned a str, not a torch.nn.Module"),
    ("model", "{pkg}.mod:build_raises", r"raised RuntimeError: no GPU kernels"),
    ("model", "{pkg}.mod:build_wrong_width", r"must give outputs shaped \(2, 3\).*got \(2, 4\)"),
    ("model", "{pkg}.broken:build", r"importing module '.*broken' failed: No module named"),
    ("model", "{pkg}.mod:", r"is not a reference of the form 'pkg.module:attr'"),
    ("model", "{pkg}.mod", r"unknown model .*; or a reference 'pkg.module:build'"),
    ("dataset", "no_such_pkg_zz.data:load", r"module 'no_such_pkg_zz.data' not found"),
    ("dataset", "{pkg}.mod:nope", r"has no attribute 'nope'"),
    ("dataset", "{pkg}.mod:load_three",
     r"must return \(x_train, y_train, x_test, y_test\), got tuple of length 3"),
    ("dataset", "{pkg}.mod:load_lists", r"numpy arrays or torch tensors; x_train is a list"),
    ("dataset", "{pkg}.mod:load_mismatched", r"y_train must be 1-D with one entry per row"),
    ("dataset", "{pkg}.mod:load_strings", r"integer labels \(classification\) or both floats"),
    ("family", "{pkg}.mod:WIDTH", r"is a int, not a trainables.regularizers.Family"),
    ("family", "no_such_pkg_zz.fam:FAMILY", r"module 'no_such_pkg_zz.fam' not found"),
])
def test_each_wrong_reference_is_one_config_error_naming_its_key(user_package, key, reference,
                                                                 match) -> None:
    pkg = user_package({"broken": "import not_installed_dependency_zz\n"})
    config = {"model": f"{pkg}.mod:build", "dataset": f"{pkg}.mod:load", key: reference.format(pkg=pkg)}
    with pytest.raises(ConfigError, match=match) as info:
        check_config(config)
    message = str(info.value)
    assert message.startswith(f"{key}=") and "\n" not in message


def test_noise_on_a_users_model_without_norm_or_points_is_refused(user_package) -> None:
    pkg = user_package()
    with pytest.raises(ConfigError, match="family='noise' needs noise points: the model has no "
                                          "trainables.NoiseInjection module and no BatchNorm"):
        check_config({"model": f"{pkg}.mod:build_plain", "dataset": f"{pkg}.mod:load",
                      "family": "noise", "rho": 0.1})


def test_n_train_is_checked_against_the_loaded_pool(user_package) -> None:
    pkg = user_package()
    with pytest.raises(ConfigError, match=r"n_train=161 exceeds the training pool of .* \(160 rows\)"):
        check_config({"model": f"{pkg}.mod:build", "dataset": f"{pkg}.mod:load", "n_train": 161})
    assert check_config({"model": f"{pkg}.mod:build", "dataset": f"{pkg}.mod:load",
                         "n_train": 160}).n_train == 160
