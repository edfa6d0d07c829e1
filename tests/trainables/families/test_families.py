"""What every registered family promises, checked on each one: the file it lives in, its rho
columns equal to its declared rho names, its stochastic flag, learnability, search range."""

from __future__ import annotations

import math
import pkgutil

import pytest
import torch

import trainables.families as families_pkg
from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.regularizers import Regularizer
from trainables.trial import Trial

#: one config every family can run on: digits images through a small MLP
BASE = {"dataset": "digits", "n_train": 120, "model": "mlp", "width": 16, "depth": 1, "epochs": 1,
            "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 256, "seed": 1}


def test_every_family_file_declares_one_family_named_after_it() -> None:
    modules = sorted(m.name for m in pkgutil.iter_modules(families_pkg.__path__))
    assert modules == sorted(families.names())
    for name in modules:
        assert families.get(name).name == name


def test_an_unknown_family_lists_the_known_ones() -> None:
    assert {"augment", "l1", "l2", "noise", "none", "weight_norm"} <= set(families.names())
    with pytest.raises(ConfigError) as info:
        families.get("no-such-family")
    assert str(info.value) == (f"family='no-such-family': unknown family; choose one of "
                               f"{list(families.names())} or a reference 'pkg.module:ATTR'")


def _middle(family: families.Family) -> float:
    """A value every family accepts: the geometric middle of its search range (0 without one)."""
    return math.sqrt(family.search_range[0] * family.search_range[1]) if family.search_range else 0.0


def _names_or_skip(config: dict) -> tuple[str, ...]:
    """The config's rho names; a family that does not apply to the shared small config (its
    own test file covers it on a model it fits) is skipped, not failed."""
    try:
        return rho_names(config)
    except ConfigError as exc:
        pytest.skip(f"not applicable to the shared config: {exc}")


@pytest.mark.parametrize("name", families.names())
def test_declaration_is_complete(name: str) -> None:
    family = families.get(name)
    assert family.description and "\n" not in family.description
    names = _names_or_skip({**BASE, "family": name, "rho": _middle(family)})
    assert (family.search_range is None) == (names == ())
    if family.search_range is not None:
        low, high = family.search_range
        assert 0 < low < high


@pytest.mark.parametrize("name", families.names())
def test_fixed_run_reports_exactly_its_rho_names(name: str) -> None:
    family = families.get(name)
    rho = _middle(family)
    config = {**BASE, "family": name, "mode": "fixed", "rho": rho}
    names = _names_or_skip(config)
    trial = Trial(config)
    assert trial.regularizer.stochastic == family.stochastic
    row = trial.run_epoch()
    columns = tuple(k[len("rho/"):] for k in row if k.startswith("rho/"))
    assert columns == names
    if family.learned_with_theta:  # rho started there and moved with theta (concrete_dropout)
        assert all(math.isfinite(row[f"rho/{n}"]) for n in columns)
        return
    # l1 re-reads rho from the retracted float32 weight: equal to float32 rounding
    assert all(row[f"rho/{n}"] == pytest.approx(rho, rel=1e-5) for n in columns)


@pytest.mark.parametrize("name", families.names())
def test_cross_reg_learns_rho_exactly_when_learnable(name: str) -> None:
    family = families.get(name)
    start = _middle(family) or 0.5
    config = {**BASE, "family": name, "mode": "cross_reg", "rho": start, "epochs": 2}
    if not family.learnable:
        with pytest.raises(ConfigError, match="has no rho that cross_reg can learn"):
            check_config(config)
        return
    names = _names_or_skip(config)
    rows = run_trial(config)
    assert any(rows[-1][f"rho/{n}"] != pytest.approx(start, rel=1e-6) for n in names)


@pytest.mark.parametrize("name", [n for n in families.names() if families.get(n).t1t2_can_learn])
def test_switched_off_the_model_draws_nothing(name: str) -> None:
    """`Regularizer.off` (t1t2's clean validation loss): inside it two forward passes of one
    batch agree exactly for every family t1t2 can learn, so no noise leaks into that loss;
    outside it a family whose model itself draws (noise points, hooks) differs, so the check
    can see noise. (An input transform, augment's, is not in the model: t1t2 never calls it.)"""
    family = families.get(name)
    config = {**BASE, "family": name, "mode": "t1t2", "rho": _middle(family) or 0.5}
    _names_or_skip(config)
    trial = Trial(config)
    model, regularizer = trial.model, trial.regularizer
    x = trial.splits.test.x[:8].to(trial.device)
    model.eval()

    def twice() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            regularizer.refresh()
            first = model(x)
            regularizer.refresh()
            return first, model(x)

    with regularizer.off():
        first, second = twice()
    assert torch.equal(first, second)
    draws_in_model = type(regularizer).transform_inputs is Regularizer.transform_inputs
    if family.stochastic and draws_in_model:
        assert not torch.equal(*twice())
