"""The search strategies: one module each, found by scanning this package.

A strategy module declares `STRATEGY = Strategy(...)` (harness.strategies.common): its name,
whether it learns rho, its builder, how many trials a complete run has, its budget fields and
whether `Tuner.restore` can continue it; nothing else names it. An experiment may also name
a strategy of its own by reference, `"pkg.module:ATTR"`, ATTR being a `Strategy` (importing
the module is all it takes; its `name` labels its directories and rows).
"""

from __future__ import annotations

from harness.errors import SpecError
from harness.strategies.common import Strategy, StrategyContext, experiment_name
from trainables.registry import is_reference, resolve, scan

#: every strategy of this package, by name
STRATEGIES: dict[str, Strategy] = scan(__name__, "STRATEGY", Strategy)


def names() -> list[str]:
    """The strategies of this package, sorted."""
    return list(STRATEGIES)


def get(name: str) -> Strategy:
    """The strategy `name`: one of this package's or a `"pkg.module:ATTR"` reference; a
    SpecError naming the `strategies` key otherwise."""
    if is_reference(name):
        found = resolve(name, lambda message: SpecError(f"strategies: {message}"))
        if not isinstance(found, Strategy):
            raise SpecError(f"strategies: {name!r} is a {type(found).__name__}, not a Strategy")
        return found
    try:
        return STRATEGIES[name]
    except KeyError:
        raise SpecError(f"strategies: unknown strategy {name!r}; choose from "
                        f"{', '.join(names())} or a reference 'pkg.module:ATTR'") from None


__all__ = ["STRATEGIES", "Strategy", "StrategyContext", "experiment_name", "get", "names"]
