"""The search strategies: one module each, found by scanning this package.

A strategy module declares a `Strategy` (name, whether it learns rho, its builder, how many
trials a complete run has, its budget fields, whether `Tuner.restore` can continue it) and
registers it at import; nothing else names it. `get(name)` and `names()` read the registry.
"""

from __future__ import annotations

import importlib
import pkgutil

from harness.strategies.common import (
    Strategy,
    StrategyContext,
    experiment_name,
    get,
    names,
    register,
)


def _import_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "common":
            importlib.import_module(f"{__name__}.{module.name}")


_import_all()

__all__ = ["Strategy", "StrategyContext", "experiment_name", "get", "names", "register"]
