"""Analysis of crossreg-harness results: pure numpy/pandas/matplotlib, no Ray, no torch.

    df = analysis.load_results("runs/quick-2026...")      # or s3://bucket/runs/...
    analysis.summarize(df)                                   # one row per strategy
    analysis.compare(df, "cross_reg", "pbt", "test_acc")     # paired over seeds
    analysis.write_report("runs/quick-2026...", "report.html")

Submodules load on first use, so ``import analysis`` (and the trainables' import of
``analysis.metrics``) stays cheap: pandas, scipy and matplotlib come in only when needed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_results": "results", "read_metadata": "results", "ResultsWarning": "results",
    "summarize": "summary", "compare": "summary", "compute_to_quality": "summary",
    "anytime_curves": "summary", "format_table": "summary", "final_rows": "summary",
    "bootstrap_ci": "summary",
    "write_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
