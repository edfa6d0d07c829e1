"""One module per search strategy, each exposing `build(ctx) -> BuiltStrategy`."""

from __future__ import annotations

from harness.strategies import asha, cross_reg, fixed, grid_cv, pbt
from harness.strategies.common import BuiltStrategy, StrategyContext, experiment_name

BUILDERS = {
    "cross_reg": cross_reg.build,
    "fixed": fixed.build,
    "pbt": pbt.build,
    "grid_cv": grid_cv.build,
    "asha": asha.build,
}

def restorable(strategy: str) -> bool:
    """Whether an unfinished Tune experiment of `strategy` may be continued with
    `Tuner.restore` (else `crossreg resume` reruns it from scratch)."""
    module = {"cross_reg": cross_reg, "fixed": fixed, "pbt": pbt, "grid_cv": grid_cv,
              "asha": asha}[strategy]
    return getattr(module, "RESTORABLE", True)


__all__ = ["restorable", "BUILDERS", "BuiltStrategy", "StrategyContext", "experiment_name"]
