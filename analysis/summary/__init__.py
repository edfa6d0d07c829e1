"""The comparison table, paired tests and compute-to-quality, from ``load_results``' frame.

One job per module: :mod:`.selection` (replicates and final-model rows),
:mod:`.statistics` (intervals over seeds, paired tests; scipy.stats), :mod:`.table`
(``summarize``: one row per strategy, with status and cost reference), :mod:`.display`
(the table as text), :mod:`.curves` (anytime curves, compute to quality), :mod:`.costs` (the
cost axes: forward passes, FLOPs, device seconds, wall), :mod:`.sweep` (budget sweeps: variants,
Pareto front, cost to match), :mod:`.across` (statistics across the tasks of a suite: ranks,
Friedman and Nemenyi, normalised scores), :mod:`.improvement` (probability of improvement,
performance profiles), :mod:`.anytime_ranks` (ranks at equal budget).

Accuracies are fractions in [0, 1]; "within X points" means X hundredths of the metric
(percentage points of accuracy).
"""

from __future__ import annotations

from .across import across_tasks, nemenyi_cd
from .across_display import format_across_tasks
from .anytime_ranks import anytime_ranks
from .costs import AXES
from .curves import anytime_curves, compute_to_quality
from .display import TABLE_NOTE, display_table, eng, format_table, interval_text
from .improvement import performance_profile, probability_of_improvement
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
from .sweep import (
                         budget_text,
                         cost_to_match,
                         curve_cost,
                         pareto_front,
                         sweep_summary,
                         sweep_variants,
)
from .sweep_display import display_cost_to_match, display_sweep, format_sweep
from .table import replicate_table, status_text, summarize

__all__ = [
                         "AXES",
                         "GROUP",
                         "MIN_BOOTSTRAP",
                         "REPLICATE",
                         "TABLE_NOTE",
                         "across_tasks",
                         "anytime_curves",
                         "anytime_ranks",
                         "bootstrap_interval",
                         "budget_text",
                         "compare",
                         "compute_to_quality",
                         "cost_to_match",
                         "curve_cost",
                         "display_cost_to_match",
                         "display_sweep",
                         "display_table",
                         "eng",
                         "final_rows",
                         "format_across_tasks",
                         "format_sweep",
                         "format_table",
                         "interval_text",
                         "iqm",
                         "labelled",
                         "mean_interval",
                         "metric_interval",
                         "nemenyi_cd",
                         "paired_pvalues",
                         "pareto_front",
                         "performance_profile",
                         "probability_of_improvement",
                         "replicate_table",
                         "status_text",
                         "summarize",
                         "sweep_summary",
                         "sweep_variants",
]
