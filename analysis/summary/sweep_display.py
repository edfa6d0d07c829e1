"""A budget sweep as text: the variants' table and the cost-to-match table (terminal and report)."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from ..contract import DEFAULT_COST, total_column
from .costs import AXIS_LABELS, AXIS_SHORT
from .display import eng, interval_text, no_axis_note
from .sweep import cost_to_match, sweep_summary

SWEEP_NOTE = ("cost to match: per seed, the cost at which the method's quality-vs-cost curve (its variants "
              "sorted by cost; at each cost the test quality of the variant chosen by validation among those "
              "at most that cost, never by test; interpolated linearly in log cost) "
              "reaches the reference's final quality, divided by the reference's cost; geometric mean over the "
              "seeds that reached it, with a 95% Student-t interval of the mean log ratio (none from fewer than "
              "2 seeds); below 1 the method needs less than the reference. reverse: the cost at which the "
              "reference's method (cross-reg's (r, K) variants) reaches the quality of the method's own pick "
              "(by validation, at its whole budget), divided by the cost at which the method's curve got it. "
              "A seed whose curve stays short of the "
              "target is not reached (left out of the ratio, which it would raise); one whose cheapest variant "
              "already gets there gives an upper bound. * on the Pareto front (no variant both "
              "cheaper and better); R the reference")


def _ratio(ratio: float, lo: float, hi: float) -> str:
    if not np.isfinite(ratio):
        return "-"
    return f"{ratio:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) and np.isfinite(hi) else "")


def display_sweep(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`analysis.summary.sweep_summary` as strings: one row per variant, by method and cost."""
    axis = str(summary["cost_axis"].iloc[0]) if "cost_axis" in summary and len(summary) else DEFAULT_COST
    col = total_column(axis)
    mark = [("*" if p else "") + ("R" if r else "") for p, r in zip(summary["pareto"], summary["is_reference"])]
    out = pd.DataFrame({
        "method": summary["method"].astype(str),
        "variant": summary["strategy"].astype(str),
        "budget": summary["budget"].astype(str),
        "*/R": mark,
        "seeds": [f"{int(a)}/{int(b)}" if a != b else f"{int(b)}"
                  for a, b in zip(summary["n_final"], summary["n_seeds"])],
        "test acc %": [interval_text(m, lo, hi, 100, 1) for m, lo, hi in
                       summary[["test_acc_mean", "test_acc_ci_low", "test_acc_ci_high"]].to_numpy(dtype=float)],
        "ECE %": [interval_text(m, lo, hi, 100, 1) for m, lo, hi in
                  summary[["test_ece_mean", "test_ece_ci_low", "test_ece_ci_high"]].to_numpy(dtype=float)],
        AXIS_SHORT[axis]: summary[col].map(eng),
    }, index=summary.index)
    ref = summary["cost_reference"].dropna().astype(str).unique() if "cost_reference" in summary else []
    if len(ref) == 1:
        out[f"x {ref[0]}"] = summary["cost_vs_reference"].map(lambda v: f"{v:.2f}" if np.isfinite(v) else "-")
    out["status"] = summary["status"].astype(str)
    return out


def display_cost_to_match(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`analysis.summary.cost_to_match` as strings: ratio [interval], seeds reached, notes."""
    if table.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "method": table["method"].astype(str),
        "reference": table["reference"].astype(str),
        "cost to match (x ref)": [_ratio(*v) for v in table[["match_ratio", "match_ci_low", "match_ci_high"]]
                                  .to_numpy(dtype=float)],
        "reached": [f"{a}/{a + b}" for a, b in zip(table["match_reached"], table["match_not_reached"])],
        "reverse (x method)": [_ratio(*v) for v in table[["reverse_ratio", "reverse_ci_low", "reverse_ci_high"]]
                               .to_numpy(dtype=float)],
        "rev. reached": [f"{a}/{a + b}" if a + b else "-" for a, b in
                         zip(table["reverse_reached"], table["reverse_not_reached"])],
        "notes": ["; ".join(filter(None, [f"match: {m}" if m else "", f"reverse: {r}" if r else ""]))
                  for m, r in zip(table["match_note"], table["reverse_note"])],
    }, index=table.index)


def format_sweep(df: pd.DataFrame, cost: str = DEFAULT_COST, metric: str = "test_acc",
                 reference: str | None = None) -> str:
    """A budget sweep for a terminal: per (experiment, dataset) the variants' table and the
    cost-to-match table on the ``cost`` axis, then the note that says how they are read."""
    summary = sweep_summary(df, cost=cost, metric=metric)
    if summary.empty:
        return "(no results)"
    try:
        ctm = cost_to_match(df, reference=reference, cost=cost, metric=metric)
    except ValueError as e:
        ctm, why = pd.DataFrame(), str(e)
    else:
        why = ""
    blocks = []
    for (exp, ds), g in summary.groupby(["experiment", "dataset"], dropna=False, sort=True):
        text = f"sweep {exp} · dataset {ds} · cost: {AXIS_LABELS[cost]}\n" + display_sweep(g).to_string(index=False)
        c = ctm[(ctm["experiment"] == exp) & (ctm["dataset"] == ds)] if len(ctm) else ctm
        text += "\n\n" + (display_cost_to_match(c).to_string(index=False) if len(c) else f"no cost to match: {why}")
        col = total_column(cost)
        if cost != "fwd" and col in g and not np.isfinite(g[col].to_numpy(dtype=float)).any():
            text += "\n" + no_axis_note(cost)
        blocks.append(text)
    return "\n\n".join(blocks) + "\n" + textwrap.fill(SWEEP_NOTE, width=100)


__all__ = ["SWEEP_NOTE", "display_cost_to_match", "display_sweep", "format_sweep"]
