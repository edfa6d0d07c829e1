"""The declaration of a model (`ModelSpec`), a user's model named by a reference, and checks
the built-in models share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..registry import resolve

#: ``build(input_shape, n_out, width, depth, dropout, norm, **options)``; width/depth None =
#: the default; ``options`` are the keyword knobs the spec lists in `ModelSpec.options`
Builder = Callable[..., nn.Module]

#: the model options beyond the common knobs, each with the value that means "not used": a
#: model whose spec lists an option receives it as a keyword; any other refuses a value that
#: differs from this (it would silently not apply)
OPTION_DEFAULTS: dict[str, Any] = {"pool": "none", "pool_ratio": None}


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: how to build one model and which config knobs it reads.

    ``uses_width`` / ``uses_depth`` say whether the config's ``width`` / ``depth`` change the
    network (a model that does not use them ignores them), so a driver can leave them out of
    a search over such a model. ``options`` names the `OPTION_DEFAULTS` keys its build
    takes as keywords (the cnn's ``pool`` and ``pool_ratio``).
    """

    name: str
    description: str
    build: Builder
    uses_width: bool = False
    uses_depth: bool = False
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.options) - set(OPTION_DEFAULTS))
        if unknown:
            raise ValueError(f"model {self.name!r}: unknown option(s) {unknown}; known options: "
                             f"{sorted(OPTION_DEFAULTS)}")


def reference_spec(reference: str) -> ModelSpec:
    """The spec of a user's model ``"pkg.module:build"``, ``build(input_shape, n_out)``.

    The config's ``width`` and ``depth`` are ignored (the user's build decides); ``dropout``
    and ``norm=False`` are refused rather than ignored, since they would silently not apply.
    Every failure is a ValueError (a TypeError for a wrong type) naming the reference.
    """
    build = resolve(reference, ValueError)
    if not callable(build):
        raise TypeError(f"{reference!r} is a {type(build).__name__}, not a function "
                         "build(input_shape, n_out) -> torch.nn.Module")

    def builder(input_shape: tuple[int, ...], n_out: int, width: int | None, depth: int | None,
                dropout: float, norm: bool) -> nn.Module:
        if dropout:
            raise ValueError(f"dropout={dropout} applies to the built-in models; {reference!r} "
                             "builds its own network (put nn.Dropout in it)")
        if not norm:
            raise ValueError(f"norm=False applies to the built-in models; {reference!r} builds "
                             "its own network")
        try:
            model = build(input_shape, n_out)
        except Exception as exc:  # the user's code: one line naming the call, cause chained
            raise ValueError(f"{reference}(input_shape={input_shape}, n_out={n_out}) raised "
                             f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(model, nn.Module):
            raise TypeError(f"{reference}(input_shape={input_shape}, n_out={n_out}) returned a "
                             f"{type(model).__name__}, not a torch.nn.Module")
        return model

    return ModelSpec(reference, f"user model {reference}", builder)


def check_image(name: str, input_shape: tuple[int, ...], min_side: int) -> None:
    """The torchvision-based models take (C, H, W) images of at least ``min_side`` pixels."""
    if len(input_shape) != 3 or min(input_shape[1:]) < min_side:
        raise ValueError(
            f"{name} needs image inputs (C, H, W) with H, W >= {min_side}, got {input_shape}; "
            "load the data with flatten=False")


def numel(shape: tuple[int, ...]) -> int:
    """Number of features of one sample."""
    n = 1
    for s in shape:
        n *= int(s)
    return n
