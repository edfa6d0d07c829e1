"""Specs, the registry, TOML files and --set overrides: refused with the key named."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import pytest

from harness import strategies
from harness.errors import SpecError
from harness.experiments import overrides, registry

REQUIRED = ("quick", "mnist1d-noise", "digits-augment", "ridge", "lasso-diabetes",
            "cifar10-vgg16-noise", "cifar10-resnet18-noise", "svhn-augment")


def test_registry_has_the_named_experiments():
    assert set(REQUIRED) <= set(registry.names())
    assert registry.DEFAULT_EXPERIMENT == "quick"


def test_quick_runs_all_four_strategies_with_small_budgets():
    q = registry.get("quick")
    assert {"cross_reg", "pbt", "grid_cv", "asha"} <= set(q.strategies)
    assert q.perturbation_interval == round(0.05 * q.epochs)
    assert (q.trial.dataset, q.trial.model, q.trial.family) == ("digits", "mlp", "noise")
    assert q.gpus_per_trial == 0
    assert q.layer_names() == ("sigma_0", "sigma_1")


def test_regression_experiments_select_on_val_loss():
    for name in ("ridge", "lasso-diabetes"):
        spec = registry.get(name)
        assert (spec.trial.model, spec.metric, spec.mode) == ("linear", "val_loss", "min")
    assert registry.get("ridge").trial.family == "l2"
    assert registry.get("lasso-diabetes").trial.family == "l1"
    assert registry.get("quick").metric == "val_acc"


def test_unknown_experiment_names_the_known_ones():
    with pytest.raises(SpecError, match="unknown experiment 'nope'.*quick"):
        registry.get("nope")


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.get("quick").epochs = 3  # type: ignore[misc]


@pytest.mark.parametrize("key,value", [
    ("epochs", 0), ("seeds", 0), ("reg_fraction", 0.0), ("reg_fraction", 1.0),
    ("pbt_quantile", 0.75), ("pbt_population", 1), ("cv_folds", 0), ("lr", -1.0),
    ("rho_low", -1.0), ("strategies", ("pbt", "pbt")), ("strategies", ()), ("K", 0),
    ("grid_values", ()), ("grid_values", (-1.0,)),
    ("gpus_per_trial", 1.5), ("asha_grace_period", 0), ("n_train", 2),
])
def test_impossible_values_are_refused_naming_the_key(key, value):
    with pytest.raises(SpecError, match=rf"^{key}="):
        registry.get("quick").replace(**{key: value})


def test_pbt_interval_defaults_to_five_percent_of_epochs():
    base = registry.get("quick").replace(pbt_interval=0)
    assert base.replace(epochs=100).perturbation_interval == 5
    assert base.replace(epochs=10).perturbation_interval == 1  # min 1
    assert base.replace(pbt_interval=3).perturbation_interval == 3
    assert base.replace(pbt_interval=3, epochs=2).perturbation_interval == 2  # clamped
    assert base.replace(asha_grace_period=5, epochs=2).grace_period == 2


def test_trial_config_differs_between_strategies_only_where_it_must():
    spec = registry.get("quick")
    configs = {s: spec.trial_config(s, seed=2, learned=strategies.get(s).learns_rho)
               for s in strategies.names()}
    shared = {k for k in configs["pbt"] if k not in ("mode", "rho", "strategy")}
    for s, c in configs.items():
        assert {k: c[k] for k in shared} == {k: configs["pbt"][k] for k in shared}
        assert c["strategy"] == s and c["seed"] == 2 and c["split_seed"] == 2
    assert configs["cross_reg"]["mode"] == "cross_reg"
    assert configs["cross_reg"]["rho"] == {"sigma_0": spec.rho_init, "sigma_1": spec.rho_init}
    assert all(configs[s]["mode"] == "fixed" for s in strategies.names() if s != "cross_reg")
    assert spec.trial_config("grid_cv", 0, learned=False, fold=1, n_folds=3)["fold"] == 1


def test_every_strategy_declares_its_configs_and_the_trainables_accept_them():
    from trainables.config import TrialConfig

    for name in registry.names():
        spec = registry.get(name)
        for s in spec.strategies:
            configs = strategies.get(s).configs_to_check(spec)
            assert configs and all(c["strategy"] == s for c in configs)
            for config in configs:
                TrialConfig.from_dict(config)


def test_set_coerces_from_the_field_type():
    values = overrides.parse_sets(["epochs=7", "lr=0.5", "download=true", "n_train=none",
                                   "grid_values=0.1,1,10", "strategies=pbt,asha", "model=mlp"])
    assert values == {"epochs": 7, "lr": 0.5, "download": True, "n_train": None,
                      "grid_values": (0.1, 1.0, 10.0), "strategies": ("pbt", "asha"),
                      "model": "mlp"}
    spec = overrides.apply(registry.get("quick"), values)
    assert spec.epochs == 7 and spec.grid_values == (0.1, 1.0, 10.0)


@pytest.mark.parametrize("item,match", [
    ("epochs=seven", "epochs"), ("bogus=1", "bogus"), ("epochs", "key=value"),
    ("download=maybe", "download"),
])
def test_bad_set_is_refused_naming_the_key(item, match):
    """An unknown key is refused when the family is known (`apply`): it may be one of its
    options (`Family.options`; tests/harness/test_family_options.py)."""
    with pytest.raises(SpecError, match=match):
        overrides.apply(registry.get("quick"), overrides.parse_sets([item]))


def test_none_of_an_optional_string_field_is_none_not_the_word():
    assert overrides.parse_sets(["data_dir=none", "rho_low=null"]) == {"data_dir": None,
                                                                       "rho_low": None}
    assert overrides.parse_sets(["data_dir=/data/none"]) == {"data_dir": "/data/none"}


def test_set_impossible_value_names_the_key():
    with pytest.raises(SpecError, match="^epochs="):
        overrides.apply(registry.get("quick"), overrides.parse_sets(["epochs=0"]))


def test_toml_defines_an_experiment_on_a_base(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('base = "mnist1d-noise"\nname = "mine"\nepochs = 5\ngrid_values = [0.1, 1]\n'
                 'strategies = ["cross_reg", "fixed"]\n')
    spec = overrides.load_toml(f)
    assert (spec.name, spec.trial.dataset, spec.epochs) == ("mine", "mnist1d", 5)
    assert spec.grid_values == (0.1, 1.0) and spec.strategies == ("cross_reg", "fixed")


def test_toml_without_base_overrides_the_named_experiment(tmp_path):
    f = tmp_path / "o.toml"
    f.write_text("epochs = 4\n")
    assert overrides.load_toml(f, default_base="ridge").trial.dataset == "synthetic-regression"
    assert overrides.load_toml(f).name == "quick"


@pytest.mark.parametrize("text,match", [
    ("epochs = 'ten'\n", "epochs"), ("nope = 1\n", "nope"), ("epochs = [\n", "malformed TOML"),
    ("seeds = 0\n", "seeds"), ("base = 'missing'\n", "missing"), ("lr = true\n", "lr"),
])
def test_bad_toml_is_refused(tmp_path, text, match):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(SpecError, match=match):
        overrides.load_toml(f)


def test_smoke_shrinks_budgets():
    s = registry.get("mnist1d-noise").smoke()
    assert s.epochs <= 3 and s.pbt_population == 2 and s.asha_samples <= 2
    assert s.seeds == 1 and len(s.grid_values) <= 2 and s.cv_folds <= 2
    assert s.trial.observe_every == s.epochs  # the test split observed at the last epoch only


def test_spec_round_trips_through_its_dict():
    from harness.run.runner import spec_from_metadata

    spec = registry.get("svhn-augment")
    assert spec_from_metadata({"spec": spec.to_dict()}) == spec


def test_a_search_range_must_be_increasing():
    with pytest.raises(SpecError, match="^rho_high=0.5: must exceed rho_low=1.0"):
        registry.get("quick").replace(rho_low=1.0, rho_high=0.5)
    with pytest.raises(SpecError, match="rho_low"):  # above the family's own upper end
        registry.get("quick").replace(rho_low=5.0).search_range()
    assert registry.get("quick").search_range() == (1e-2, 3.0)  # the noise family's own


# a unit's driving task, in a fresh process: the configs of every strategy of the spec
DRIVING_TASK = """
import pickle, sys
from harness import strategies
spec = pickle.load(open(sys.argv[1], "rb"))
for s in spec.strategies:
    strategies.get(s).configs_to_check(spec)
print(spec.search_space().describe(), "torch" in sys.modules)
"""


@pytest.mark.parametrize("resolved", [True, False])
def test_a_driving_task_gets_a_resolved_space_and_never_imports_torch(tmp_path, resolved):
    """Resolving a search space imports torch (the rho names come from a CPU model, ~1.2 CPU-s
    in a fresh process). The driver's `runner.tasks` resolves it, and the spec pickled for
    each unit's driving task carries it, so the task builds every strategy's configs without
    torch; an unresolved spec shows the check can fail."""
    from harness.run import runner

    spec = registry.get("quick").replace(rho_low=0.02, rho_high=2.0)  # replace: a new object
    if resolved:
        ((_, spec),) = runner.tasks(spec, {"strategies": ["pbt"]}).values()
    path = tmp_path / "spec.pkl"
    path.write_bytes(pickle.dumps(spec))
    proc = subprocess.run([sys.executable, "-c", DRIVING_TASK, str(path)], capture_output=True,
                          text=True, check=True)
    space = "rho/sigma_0, rho/sigma_1 per layer, log-uniform [0.02, 2]"
    assert proc.stdout.split("\n")[-2] == f"{space} {not resolved}"
    # a resolved spec's copies with other values resolve afresh
    assert spec.replace(max_searched_rhos=1).layer_names() == ()
    assert spec.replace(rho_high=1.0).search_range() == (0.02, 1.0)
    assert spec.replace(rho_high=1.0) == registry.get("quick").replace(rho_low=0.02, rho_high=1.0)


def test_a_per_trial_field_is_not_the_experiments(capsys):
    with pytest.raises(SpecError, match="set by each strategy"):
        overrides.parse_sets(["mode=cross_reg"])


def test_single_runs_checkpoint_four_times_plus_the_last_unless_pinned():
    from trainables.config import TrialConfig

    spec = registry.get("quick").replace(epochs=30)
    assert spec.trial.checkpoint_interval == 8
    config = spec.trial_config("cross_reg", 0, learned=True)
    assert config["checkpoint_every"] == 0 and TrialConfig.from_dict(config).checkpoint_interval == 8
    assert spec.replace(checkpoint_every=3).trial.checkpoint_interval == 3
    assert spec.replace(epochs=2).trial.checkpoint_interval == 1
    with pytest.raises(SpecError, match="^checkpoint_every="):
        spec.replace(checkpoint_every=-1)
