"""A row's cost on a cost axis, and a replicate's total: NaN where a run did not record the axis.

The axes and their columns live in :mod:`analysis.contract` (``COST_AXES``). Forward passes
are always there (the loader fills a missing counter with 0 and says so); FLOPs and device
seconds are absent from runs written before the trainables recorded them, and an unknown
total must read "-", never 0: a sum over rows is NaN as soon as one row that did work lacks
the axis. Placeholder rows (a trial that reported nothing) did no recorded work and add 0.
Re-run rows (``rerun=True``) were computed, so they count like any other row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..contract import COST_AXES, WALL_AXIS, cost_columns, total_column

#: Every axis a function of this package takes as ``cost=``: the cost axes, then wall-clock time.
AXES = (*COST_AXES, WALL_AXIS)
#: How tables and plots name each axis.
AXIS_LABELS = {"fwd": "sample-forward passes", "flops": "FLOPs (matmul/conv, fwd + bwd)",
               "device_seconds": "device seconds", WALL_AXIS: "wall-clock seconds"}
AXIS_SHORT = {"fwd": "fwd", "flops": "FLOPs", "device_seconds": "device s", WALL_AXIS: "wall s"}


def check_axis(cost: str) -> str:
    """``cost`` if it names an axis (:data:`AXES`); ValueError naming the axes otherwise."""
    cost_columns(cost)
    return cost


def row_cost(df: pd.DataFrame, cost: str) -> np.ndarray:
    """Each row's cost on the summed axis ``cost`` (NaN where the row lacks one of its columns;
    0 on placeholder rows). ValueError for the wall axis, which is not a sum over rows."""
    cols = cost_columns(cost)
    if not cols:
        raise ValueError(f"the {cost!r} axis is elapsed time, not a sum over rows")
    out = np.zeros(len(df))
    for c in cols:
        out = out + (df[c].to_numpy(dtype=float) if c in df else np.nan)
    if "placeholder" in df:
        out[df["placeholder"].to_numpy(dtype=bool)] = 0.0
    return out


def code_total(code: np.ndarray, n: int, values: np.ndarray) -> np.ndarray:
    """Sum of ``values`` per group, ``code`` giving each value's group in ``range(n)`` (a groupby's
    ``ngroup``); NaN in a group where any value is NaN: an unknown part makes the total unknown."""
    total = np.bincount(code, weights=np.nan_to_num(values, nan=0.0), minlength=n)
    unknown = np.bincount(code, weights=np.isnan(values), minlength=n) > 0
    return np.where(unknown, np.nan, total)


__all__ = ["AXES", "AXIS_LABELS", "AXIS_SHORT", "check_axis", "code_total", "row_cost", "total_column"]
