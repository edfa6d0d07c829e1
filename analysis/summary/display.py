"""The summary as text: the strings the terminal (``crossreg analyze``) and the report show."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..contract import DEFAULT_COST
from .costs import AXIS_LABELS, AXIS_SHORT

#: What each column means, in the order the columns appear; a table's legend names only the
#: columns it shows (a legend that explains a column the reader cannot find sends them looking).
#: Keys are headers, or ``x ref`` for the relative-cost column (its header names the reference).
COLUMN_NOTES: dict[str, str] = {
    "acc IQM %": "IQM: interquartile mean over seeds",
    "rank": "rank: mean rank by test accuracy (MSE for a regression) within each seed (1 = best)",
    "n train": "n train: training rows of the final model (low-high where seeds differ)",
    "acc det %": "acc det: test accuracy with the noise switched off",
    "ECE TS %": "ECE TS: ECE after temperature scaling",
    "fwd total": "fwd = sample-forward passes (train + reg + eval)",
    "FLOPs": "FLOPs = matmul/conv FLOPs (forward + backward)",
    "device s": "device s = train seconds x the device share held ('-': not recorded by the run)",
    "x ref": "x REF: the cost total as a multiple of the reference strategy's, on the axis named",
    "reruns": "reruns: epochs a retry or restore re-ran (counted in every cost, nowhere else)",
    "wall s": "wall s: the driver's seconds where recorded, else from Ray's timestamps",
    "trial s": "trial s = sum of train_seconds",
}
_INTERVAL_NOTE = ("mean ± half-width of the 95% Student-t interval over seeds, cut to the metric's range "
                  "(shown as +up/-down where cut)")
_COST_COLUMNS = ("fwd total", "FLOPs", "device s")
#: the columns of the default (narrow) table, which fits 100 terminal columns: what a reader
#: compares first (quality, calibration, the price on the chosen axis and its ratio, whether
#: it finished); ``--wide`` (``format_table(wide=True)``) shows every column
NARROW_COLUMNS = ("strategy", "seeds", "n train", "test acc %", "test MSE", "ECE %", "x ref", "reference",
                  "status")


def table_note(columns: Sequence[str] | None = None) -> str:
    """The legend of a table showing ``columns`` (display headers; default: every column)."""
    shown = set(COLUMN_NOTES) if columns is None else {"x ref" if c.startswith("x ") else c for c in columns}
    parts = [_INTERVAL_NOTE]
    costs = [COLUMN_NOTES[c] for c in _COST_COLUMNS if c in shown]
    for key, note in COLUMN_NOTES.items():
        if key in _COST_COLUMNS:
            if costs:  # the cost columns share one clause, at the first of them
                parts.append("costs per seed, all trials: " + ", ".join(costs))
                costs = []
        elif key in shown:
            parts.append(note)
    return "; ".join(parts)


TABLE_NOTE = table_note()


def no_axis_note(axis: str) -> str:
    """What a table says when its runs did not record the ``axis`` it is priced on (runs written
    before the trainables counted FLOPs): the totals and ratios read "-", and how to price them."""
    return (f"no {AXIS_LABELS[axis]} to compare: the runs did not record them (totals and ratios show '-'); "
            "cost='fwd' (crossreg analyze --cost fwd) prices them in sample-forward passes")


def eng(x: float) -> str:
    """``x`` in engineering notation (12.3k, 4.56M), ``-`` where not finite."""
    if not np.isfinite(x):
        return "-"
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def interval_text(mean: float, lo: float, hi: float, scale: float = 1.0, digits: int = 1) -> str:
    """``mean ± half-width``; ``mean +up/-down`` where the interval was cut to the metric's range."""
    if not np.isfinite(mean):
        return "-"
    s = f"{mean * scale:.{digits}f}"
    if np.isfinite(lo) and np.isfinite(hi):
        up, down = (hi - mean) * scale, (mean - lo) * scale
        if math.isclose(up, down, rel_tol=1e-6, abs_tol=10.0 ** -(digits + 3)):
            s += f" ± {up:.{digits}f}"
        else:
            s += f" +{up:.{digits}f}/-{down:.{digits}f}"
    return s


def _num(fmt: str) -> Callable[[float], str]:
    return lambda v: fmt.format(v) if pd.notna(v) and np.isfinite(v) else "-"


def _axis(summary: pd.DataFrame) -> str:
    axes = summary["cost_axis"].dropna().astype(str).unique() if "cost_axis" in summary else []
    return str(axes[0]) if len(axes) else DEFAULT_COST


def _cost_column(summary: pd.DataFrame) -> tuple[str | None, pd.Series | None]:
    """Header and values of the relative-cost column: ``x <reference>`` when the rows share one
    reference, ``x reference`` (with the name in its own column) when they do not, none without;
    the axis always in brackets (``x cross_reg (FLOPs)``, ``x cross_reg (fwd)``): the price
    changed from forward passes to FLOPs, so a bare ratio would be read on the wrong axis."""
    if "cost_reference" not in summary:
        return None, None
    refs = summary["cost_reference"].dropna().astype(str).unique()
    if len(refs) == 0:
        return None, None
    axis = _axis(summary)
    header = (f"x {refs[0]}" if len(refs) == 1 else "x reference") + f" ({AXIS_SHORT[axis]})"
    return header, summary["cost_vs_reference"].map(_num("{:.2f}"))


def _any_finite(summary: pd.DataFrame, col: str) -> bool:
    return col in summary and bool(np.isfinite(summary[col].to_numpy(dtype=float)).any())


def _n_train(g: pd.DataFrame) -> list[str]:
    """Training rows of the final models: one number where every seed's agree, ``low-high`` where
    they differ (never a mean that no model trained on)."""
    if "n_train_min" not in g:
        return list(g["n_train_final"].map(_num("{:.0f}")))
    return [("-" if not np.isfinite(lo) else f"{lo:.0f}" if lo == hi else f"{lo:.0f}-{hi:.0f}")
            for lo, hi in g[["n_train_min", "n_train_max"]].to_numpy(dtype=float)]


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as strings, one row per strategy: what the terminal and the report show.

    Accuracy and ECE in percent, NLL as is (a regression shows its test MSE instead), each
    as mean ± half-width of the interval over seeds; ``ECE TS %`` (after temperature scaling)
    where any row has it; ``acc det %`` (noise switched off) where any row has it; ``n train``
    the final models' training rows (``low-high`` where seeds differ); forward passes, and
    FLOPs and device seconds where any row has them,
    in engineering notation; ``seeds`` reads ``with a final model / seen`` where they differ;
    costs relative to the reference the summary chose on its cost axis, named in the header
    (no relative column where there is none); ``reruns`` (re-run epochs per seed) only where
    any is non-zero.
    """
    g = summary

    def col(m: str, scale: float, digits: int) -> list[str]:
        return [interval_text(mean, lo, hi, scale, digits)
                for mean, lo, hi in g[[f"{m}_mean", f"{m}_ci_low", f"{m}_ci_high"]].to_numpy(dtype=float)]

    regression = "test_loss_mean" in g and not np.isfinite(g["test_acc_mean"].to_numpy(dtype=float)).any() \
        and bool(np.isfinite(g["test_loss_mean"].to_numpy(dtype=float)).any())
    quality = {"test MSE": col("test_loss", 1, 4),
               "MSE IQM": g["test_loss_iqm"].map(_num("{:.4f}"))} if regression else {
        "test acc %": col("test_acc", 100, 1),
        "acc IQM %": (g["test_acc_iqm"] * 100).map(_num("{:.1f}")),
        "ECE %": col("test_ece", 100, 1),
        **({"ECE TS %": col("test_ece_ts", 100, 1)} if _any_finite(g, "test_ece_ts_mean") else {}),
        **({"acc det %": col("test_acc_det", 100, 1)} if _any_finite(g, "test_acc_det_mean") else {}),
        "NLL": col("test_nll", 1, 3)}
    out = pd.DataFrame({
        "experiment": g["experiment"].astype(str),
        "dataset": g["dataset"].astype(str),
        "strategy": g["strategy"].astype(str),
        "seeds": [f"{int(a)}/{int(b)}" if a != b else f"{int(b)}" for a, b in zip(g["n_final"], g["n_seeds"])],
        "trials": g["n_trials"].map(_num("{:.3g}")),
        "n train": _n_train(g),
        **quality,
        "rank": g["rank_mean"].map(_num("{:.2f}")),
        "fwd total": g["fwd_total"].map(eng),
    }, index=summary.index)
    if _any_finite(g, "flops_total"):
        out["FLOPs"] = g["flops_total"].map(eng)
    if _any_finite(g, "device_seconds_total"):
        out["device s"] = g["device_seconds_total"].map(eng)
    header, rel = _cost_column(summary)
    if header is not None:
        out[header] = rel
        if header == "x reference":
            out["reference"] = summary["cost_reference"].astype(str).where(summary["cost_reference"].notna(), "-")
    if "rerun_epochs" in g and (g["rerun_epochs"].fillna(0) > 0).any():
        out["reruns"] = g["rerun_epochs"].map(_num("{:.3g}"))
    out["wall s"] = g["wall_seconds"].map(_num("{:.0f}"))
    out["trial s"] = g["trial_seconds"].map(_num("{:.0f}"))
    out["status"] = g["status"].astype(str)
    return out


def _total_column(axis: str) -> str:
    """The header of the cost-total column on ``axis``."""
    return "fwd total" if axis == "fwd" else AXIS_SHORT.get(axis, axis)


def narrow_table(table: pd.DataFrame, axis: str) -> pd.DataFrame:
    """The columns of :data:`NARROW_COLUMNS` of a :func:`display_table`, with the cost total on
    ``axis`` (the one the ratio is priced on), in display order."""
    total = _total_column(axis)
    keep = [c for c in table.columns
            if c == total or ("x ref" if c.startswith("x ") else c) in NARROW_COLUMNS]
    return table[keep]


def format_table(summary: pd.DataFrame, wide: bool = True) -> str:
    """The summary as fixed-width text for a terminal (``crossreg analyze``).

    One block per (experiment, dataset); columns as in :func:`display_table` with ``wide``,
    else the essential ones (:data:`NARROW_COLUMNS`, which fit 100 terminal columns: the CLI's
    default, ``--wide`` for all). The legend explains only the columns shown. A block
    whose costs have no reference says so under its table.
    """
    if summary is None or summary.empty:
        return "(no results)"
    blocks, shown = [], []
    for (exp, ds), g in summary.groupby(["experiment", "dataset"], dropna=False, sort=True):
        t = display_table(g).drop(columns=["experiment", "dataset"])
        axis = _axis(g)
        if not wide:
            t = narrow_table(t, axis)
        shown += [c for c in t.columns if c not in shown]
        head = f"experiment {exp}" + (f" · dataset {ds}" if pd.notna(ds) else "")
        text = head + "\n" + t.to_string(index=False)
        if "cost_reference" in g and g["cost_reference"].isna().all():
            text += ("\ncosts are absolute: no cost reference (cross_reg, else fixed, with every seed "
                     "finished and no final model diverged)")
        if axis != "fwd" and "cost_reference" in g and g["cost_reference"].notna().any() \
                and not _any_finite(g, "cost_vs_reference"):
            text += f"\n{no_axis_note(axis)}"
        blocks.append(text)
    return "\n\n".join(blocks) + "\n" + textwrap.fill(table_note(shown), width=100)
