"""Networks, one file per model, found by scanning this package.

A model file declares ``MODEL = ModelSpec(name, description, build, uses_width, uses_depth)``,
``build(input_shape, n_out, width, depth, dropout, norm)`` (``linear.py`` is a complete
example); nothing else names it. A config may instead name a user's own model by reference,
``"pkg.module:build"``, called as ``build(input_shape, n_out) -> torch.nn.Module``.

The noise family's rho is one sigma per `NoiseInjection` module (``rho/sigma_0``,
``rho/sigma_1``, ...). The built-in models place their points themselves, after every
normalised layer; with every sigma unset or zero each model is exactly the plain network:
the points are identities that consume no random numbers, so fixed-lambda training at
sigma=0 reproduces plain training bit for bit. A user's model gets points attached after its
normalisation layers (`trainables.models.noise`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..registry import is_reference, scan
from .cnn import FractionalMaxPool2d
from .noise import NoiseInjection, noise_points
from .spec import OPTION_DEFAULTS, ModelSpec, reference_spec

#: every registered model by name (a test may add one with ``monkeypatch.setitem``)
MODELS: dict[str, ModelSpec] = scan(__name__, "MODEL", ModelSpec)


def model_names() -> list[str]:
    """Known model names, sorted."""
    return sorted(MODELS)


def model_spec(name: str) -> ModelSpec:
    """The registry entry of ``name``, or the spec of a ``"pkg.module:build"`` reference;
    a ValueError (TypeError for a reference to something that is not a function) otherwise."""
    if is_reference(name):
        return reference_spec(name)
    spec = MODELS.get(name)
    if spec is None:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(model_names())}; "
                         "or a reference 'pkg.module:build'")
    return spec


def build_model(
    name: str,
    input_shape: tuple[int, ...] | list[int],
    n_out: int,
    *,
    width: int | None = None,
    depth: int | None = None,
    dropout: float = 0.0,
    norm: bool = True,
    **options: Any,
) -> nn.Module:
    """Build model ``name`` for per-sample ``input_shape`` with ``n_out`` outputs.

    ``width``/``depth`` default per model (None); a model whose spec does not use them
    ignores them. ``options`` (`OPTION_DEFAULTS`: ``pool``, ``pool_ratio``) reach the models
    whose spec lists them; any other model refuses a value other than the default. Weights
    are drawn from torch's default generator: seed it (``torch.manual_seed``) before calling
    for a reproducible model.
    """
    spec = model_spec(name)
    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown model option(s) {unknown}; known options: {sorted(OPTION_DEFAULTS)}")
    for key, value in options.items():
        if key not in spec.options and value != OPTION_DEFAULTS[key]:
            having = [n for n, s in MODELS.items() if key in s.options]
            raise ValueError(f"{key}={value!r}: model {spec.name!r} has no {key!r} option (models "
                             f"that have it: {having})")
    extra = {key: options.get(key, OPTION_DEFAULTS[key]) for key in spec.options}
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {input_shape!r}")
    if int(n_out) < 1:
        raise ValueError(f"n_out must be >= 1, got {n_out!r}")
    if width is not None and int(width) < 1:
        raise ValueError(f"width must be >= 1, got {width!r}")
    if depth is not None and int(depth) < 0:
        raise ValueError(f"depth must be >= 0, got {depth!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    return spec.build(shape, int(n_out), None if width is None else int(width),
                      None if depth is None else int(depth), float(dropout), bool(norm), **extra)


def attach_generator(model: nn.Module, generator: torch.Generator) -> bool:
    """Hand ``generator`` to every module of ``model`` that draws random numbers of its own in
    training (`FractionalMaxPool2d`); whether the model has any. A trial attaches one of its
    seeded streams, so those draws never touch torch's global generator."""
    modules = [m for m in model.modules() if isinstance(m, FractionalMaxPool2d)]
    for m in modules:
        m.generator = generator
    return bool(modules)


__all__ = ["MODELS", "OPTION_DEFAULTS", "FractionalMaxPool2d", "ModelSpec", "NoiseInjection",
           "attach_generator", "build_model", "model_names", "model_spec", "noise_points"]
