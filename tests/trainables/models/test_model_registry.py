"""The model registry: one file per model found by scanning, lookup errors, and a user's model
named by reference."""

from __future__ import annotations

import pkgutil

import pytest
import torch
from torch import nn

import trainables.models as models_pkg
from trainables.models import MODELS, build_model, model_names, model_spec


def test_every_model_file_registers_itself() -> None:
    """Each module of the package declares one MODEL, except the two shared helpers; so a
    model file with a misspelled declaration fails here instead of silently vanishing."""
    modules = {m.name for m in pkgutil.iter_modules(models_pkg.__path__)}
    declaring = {m for m in modules if hasattr(__import__(f"trainables.models.{m}",
                                                          fromlist=["_"]), "MODEL")}
    assert modules - declaring == {"noise", "spec"}
    assert len(MODELS) == len(declaring)
    assert {"linear", "mlp", "cnn", "vgg16", "resnet18"} <= set(MODELS)


def test_specs_say_which_knobs_they_use() -> None:
    assert (MODELS["mlp"].uses_width, MODELS["mlp"].uses_depth) == (True, True)
    assert (MODELS["cnn"].uses_width, MODELS["cnn"].uses_depth) == (True, True)
    for name in ("linear", "vgg16", "resnet18"):
        assert not MODELS[name].uses_width and not MODELS[name].uses_depth
    # a model that does not use width builds the same network whatever width says
    torch.manual_seed(0)
    a = build_model("linear", (6,), 2, width=3).state_dict()
    torch.manual_seed(0)
    b = build_model("linear", (6,), 2, width=300).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_errors() -> None:
    with pytest.raises(ValueError, match=f"known models: {', '.join(model_names())}; or a "):
        build_model("transformer", (64,), 10)
    with pytest.raises(ValueError, match="flatten=False"):
        build_model("cnn", (64,), 10)
    with pytest.raises(ValueError, match="H, W >= 32"):
        build_model("vgg16", (1, 28, 28), 10)
    with pytest.raises(ValueError, match="dropout"):
        build_model("mlp", (64,), 10, dropout=1.0)
    with pytest.raises(ValueError, match="depth"):
        build_model("cnn", (1, 40), 10, depth=0)
    with pytest.raises(ValueError, match="n_out"):
        build_model("mlp", (64,), 0)
    linear = build_model("linear", (1, 8, 8), 3)
    assert [type(m).__name__ for m in linear.modules() if isinstance(m, nn.Linear)] == ["Linear"]


def test_a_reference_builds_the_users_model(user_package) -> None:
    pkg = user_package()
    spec = model_spec(f"{pkg}.mod:build")
    assert spec.name == f"{pkg}.mod:build" and not spec.uses_width
    model = build_model(f"{pkg}.mod:build", (1, 12), 3, width=999, depth=7)  # both ignored
    assert model(torch.zeros(4, 1, 12)).shape == (4, 3)
    assert sum(isinstance(m, nn.LayerNorm) for m in model.modules()) == 2


@pytest.mark.parametrize("attr, kwargs, match", [
    ("build", {"dropout": 0.5}, "dropout=0.5 applies to the built-in models"),
    ("build", {"norm": False}, "norm=False applies to the built-in models"),
    ("build_not_a_module", {}, "returned a str, not a torch.nn.Module"),
    ("build_raises", {}, "raised RuntimeError: no GPU kernels"),
    ("NOT_CALLABLE", {}, "is a int, not a function"),
    ("nope", {}, "has no attribute 'nope'"),
])
def test_a_bad_reference_is_one_value_or_type_error(user_package, attr, kwargs, match) -> None:
    pkg = user_package()
    with pytest.raises((ValueError, TypeError), match=match):
        build_model(f"{pkg}.mod:{attr}", (12,), 3, **kwargs)
