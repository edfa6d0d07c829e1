"""Regularizer families, one file each, found by scanning this package.

A family file declares ``FAMILY = Family(...)`` (`trainables.regularizers.Family`): its name,
a one-line description, whether cross_reg can learn its rho, whether it is stochastic, the
range a fixed-value search draws from, its rho names on a given model, its domain checks and
how to build its regularizer, and its own knobs (``options``: `trainables.options.Option`,
each a config key read as ``config.option(NAME)``). Nothing else names it. A config may instead name a family by
reference, ``family = "pkg.module:ATTR"``, ATTR being a `Family` in the user's own module.

A family file, in outline (``none.py``, ``l2.py`` and ``noise.py`` are complete examples)::

    def rho_names(model, input_shape):  # one name per layer it acts on, in a fixed order
        return tuple(f"p_{i}" for i in range(len(_layers(model))))

    def build(config, model, input_shape, generator):  # a Regularizer attached to model
        names = rho_names(model, input_shape)
        return MyRegularizer(_layers(model), expand_rho(config.rho, names, "mine"), ...)

    FAMILY = Family(name="mine", description="...", learnable=True, stochastic=False,
                    search_range=(1e-3, 1.0), rho_names=rho_names, build=build)
"""

from __future__ import annotations

from ..coerce import ConfigError
from ..registry import is_reference, resolve, scan
from ..regularizers import Family

#: every registered family by name
FAMILIES: dict[str, Family] = scan(__name__, "FAMILY", Family)


def names() -> tuple[str, ...]:
    """The registered family names, sorted."""
    return tuple(FAMILIES)


def get(name: str) -> Family:
    """The family ``name``: a registered one or a ``"pkg.module:ATTR"`` reference; a
    ConfigError naming the ``family`` key otherwise."""
    if is_reference(name):
        family = resolve(name, lambda why: ConfigError(f"family={name!r}: {why}"))
        if not isinstance(family, Family):
            raise ConfigError(f"family={name!r} is a {type(family).__name__}, not a "
                              "trainables.regularizers.Family")
        return family
    family = FAMILIES.get(name)
    if family is None:
        raise ConfigError(f"family={name!r}: unknown family; choose one of {list(FAMILIES)} "
                          "or a reference 'pkg.module:ATTR'")
    return family


__all__ = ["FAMILIES", "Family", "get", "names"]
