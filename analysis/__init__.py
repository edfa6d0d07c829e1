"""Analysis of crossreg-harness results: pure numpy/pandas/matplotlib, no Ray, no torch.

    df = analysis.load_results("runs/quick-2026...")      # or s3://bucket/runs/...
    analysis.summarize(df)                                   # one row per strategy
    analysis.compare(df, "cross_reg", "pbt", "test_acc")     # paired over seeds (and test rows)
    analysis.load_predictions(df)                            # final models' per-example test predictions
    analysis.summarize(df, cost="flops")                     # cost axis: fwd, flops, device_seconds, wall
    analysis.cost_to_match(df)                               # a budget sweep: cost to match cross-reg
    analysis.write_report("runs/quick-2026...", "report.html")
    suite = analysis.load_results("runs/suite-small-...")   # a suite: one run per task (`task` column)
    analysis.across_tasks(suite)                             # one row per strategy across tasks
    analysis.plots.cd_diagram(analysis.across_tasks(suite))  # critical-difference diagram
    analysis.write_suite_report("runs/suite-small-...")      # one page; each task's own report linked

Submodules load on first use, so ``import analysis`` (and the trainables' import of
``analysis.metrics``, the harness's of ``analysis.contract``) stays cheap: pandas, scipy
and matplotlib come in only when needed. ``analysis.contract`` holds the column names,
the cost columns and the final-model rule that every package shares.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_results": "results", "read_metadata": "results", "ResultsWarning": "results",
    "ResultsError": "results", "load_predictions": "results",
    "summarize": "summary", "compare": "summary", "compute_to_quality": "summary",
    "anytime_curves": "summary", "format_table": "summary", "final_rows": "summary",
    "sweep_summary": "summary", "pareto_front": "summary", "cost_to_match": "summary", "format_sweep": "summary",
    "sweep_figure": "plots", "cd_diagram": "plots", "anytime_ranks_figure": "plots",
    "across_tasks": "summary", "probability_of_improvement": "summary", "performance_profile": "summary",
    "anytime_ranks": "summary", "format_across_tasks": "summary",
    "write_report": "report", "write_suite_report": "suite_report",
    "final_trial": "contract", "COST_COLUMNS": "contract", "COST_AXES": "contract",
}

__all__ = [
    "COST_AXES", "COST_COLUMNS", "ResultsError", "ResultsWarning", "across_tasks", "anytime_curves", "anytime_ranks",
    "anytime_ranks_figure", "cd_diagram", "compare", "compute_to_quality", "cost_to_match", "final_rows",
    "final_trial", "format_across_tasks", "format_sweep", "format_table", "load_predictions", "load_results",
    "pareto_front", "performance_profile", "probability_of_improvement", "read_metadata", "summarize", "sweep_figure",
    "sweep_summary", "write_report", "write_suite_report",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
