"""The across-task table as text: what ``crossreg analyze SUITE_DIR`` prints above the per-task table
(and, as a frame of the same strings, what the suite report shows)."""

from __future__ import annotations

import math

import pandas as pd


def _num(v: object, fmt: str) -> str:
    return "-" if v is None or pd.isna(v) or not math.isfinite(float(v)) else format(float(v), fmt)  # type: ignore[arg-type]


def display_across_tasks(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`analysis.across_tasks`' table as the strings :func:`format_across_tasks` prints (and
    the suite report shows), one row per strategy: ranks, the score's IQM with its interval
    ("withheld" where there is none), wins/ties/losses against the reference ("-" on its own
    row), the median cost ratio and the failed final models."""
    a = table.attrs
    ref, cost = a.get("reference", "cross_reg"), a.get("cost", "flops")
    level = round(100 * float(a.get("confidence_level", 0.95)))
    cols = ["strategy", "mean rank", "task rank", f"score IQM [{level}% CI]", f"W/T/L vs {ref}",
            f"cost x {ref} ({cost}, median)", "failed"]
    lines = []
    for r in table.itertuples(index=False):
        ci = (f" [{_num(r.score_ci_low, '.2f')}, {_num(r.score_ci_high, '.2f')}]"
              if pd.notna(r.score_ci_low) else " [withheld]")
        wtl = "-" if pd.isna(r.wins) else f"{r.wins}/{r.ties}/{r.losses}"
        lines.append([str(r.strategy), _num(r.mean_rank, ".2f"), _num(r.task_rank, ".2f"),
                      _num(r.score_iqm, ".2f") + ci, wtl, _num(r.cost_ratio_median, ".2f"), str(r.n_failed)])
    return pd.DataFrame(lines, columns=cols)


def format_across_tasks(table: pd.DataFrame) -> str:
    """:func:`analysis.across_tasks`' table as aligned text: a header line saying what was
    compared (tasks, blocks, metric, the Friedman p and the Nemenyi critical difference), one
    line per strategy, and the table's notes (what was left out, what the figures cannot say)."""
    a = table.attrs
    head = (f"Across {a.get('n_tasks', '?')} tasks ({a.get('n_blocks', '?')} task x seed blocks), "
            f"{a.get('metric', '?')} ({'higher' if a.get('mode') == 'max' else 'lower'} is better): "
            f"Friedman p = {_num(a.get('friedman_p'), '.3g')}, Nemenyi CD = {_num(a.get('nemenyi_cd'), '.2f')} "
            f"(alpha {a.get('alpha', 0.05)}) on task ranks")
    shown = display_across_tasks(table)
    cols = list(shown.columns)
    lines = [[str(v) for v in row] for row in shown.itertuples(index=False)]
    widths = [max(len(c), *(len(x[i]) for x in lines)) if lines else len(c) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    body = [fmt.format(*cols), *(fmt.format(*x) for x in lines)]
    notes = [f"note: {n}" for n in a.get("notes", [])]
    return "\n".join([head, *body, *notes])


__all__ = ["display_across_tasks", "format_across_tasks"]
