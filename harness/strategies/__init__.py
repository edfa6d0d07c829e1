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

__all__ = ["BUILDERS", "BuiltStrategy", "StrategyContext", "experiment_name"]
