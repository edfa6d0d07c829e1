"""The comparison table, paired tests and compute-to-quality, from ``load_results``' frame.

One job per module: :mod:`.selection` (replicates and final-model rows),
:mod:`.statistics` (intervals over seeds, paired tests; scipy.stats), :mod:`.table`
(``summarize``: one row per strategy, with status and cost reference), :mod:`.display`
(the table as text), :mod:`.curves` (anytime curves, compute to quality).

Accuracies are fractions in [0, 1]; "within X points" means X hundredths of the metric
(percentage points of accuracy).
"""

from __future__ import annotations

from .curves import anytime_curves, compute_to_quality
from .display import TABLE_NOTE, display_table, eng, format_table, interval_text
from .selection import GROUP, REPLICATE, final_rows, labelled
from .statistics import (
                         MIN_BOOTSTRAP,
                         bootstrap_interval,
                         compare,
                         iqm,
                         mean_interval,
                         metric_interval,
                         paired_pvalues,
)
from .table import replicate_table, status_text, summarize

__all__ = [
                         "GROUP",
                         "MIN_BOOTSTRAP",
                         "REPLICATE",
                         "TABLE_NOTE",
                         "anytime_curves",
                         "bootstrap_interval",
                         "compare",
                         "compute_to_quality",
                         "display_table",
                         "eng",
                         "final_rows",
                         "format_table",
                         "interval_text",
                         "iqm",
                         "labelled",
                         "mean_interval",
                         "metric_interval",
                         "paired_pvalues",
                         "replicate_table",
                         "status_text",
                         "summarize",
]
