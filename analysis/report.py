"""One self-contained HTML page per comparison: table, tests, plots, spec, environment.

Self-contained means readable offline and attachable to an email: PNGs are
embedded as base64 data URIs, the CSS is inline, there is no script and no
external asset. Everything on the page comes from the result files; the load
warnings are printed on the page too, because a table computed from a half-run
experiment must say so where it is read.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import os
import platform
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import plots
from .contract import DEFAULT_COST, total_column
from .results import ResultsWarning, load_results
from .summary import (
    TABLE_NOTE,
    compare,
    compute_to_quality,
    cost_to_match,
    display_cost_to_match,
    display_sweep,
    display_table,
    eng,
    summarize,
    sweep_summary,
)
from .summary.costs import AXIS_LABELS, check_axis
from .summary.display import no_axis_note
from .summary.sweep_display import SWEEP_NOTE
from .summary.table import sweep_references

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1300px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right;white-space:nowrap}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.note{color:#555;font-size:.85em}.badge{display:inline-block;padding:.1em .6em;border-radius:.8em;
font-weight:600;font-size:.85em;color:#fff}
.finished{background:#2e7d32}.running{background:#1565c0}.interrupted{background:#c62828}.unknown{background:#757575}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:.8em;overflow-x:auto;font-size:.8em}
img{max-width:100%;border:1px solid #eee}.warn{background:#fff8e1;border:1px solid #ffe082;padding:.6em}
.scroll{overflow-x:auto;max-width:100%}
"""


def figure_to_base64(fig: Figure, dpi: int = 90) -> str:
    """PNG of ``fig`` as a base64 string (rendered with Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _table(df: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    if df is None or df.empty:
        return '<p class="note">(nothing to show)</p>'
    html_table = df.to_html(index=False, na_rep="–", escape=True, border=0,
                            float_format=lambda v: float_format.format(v))
    # a wide table scrolls in its own box: the page never scrolls sideways at 1,400 px
    return f'<div class="scroll">{html_table}</div>'


def _comparisons(df: pd.DataFrame, strategies: list[str], reference: str = "cross_reg") -> pd.DataFrame:
    """``reference`` (cross_reg; a sweep's reference variant) against each other strategy, on
    test accuracy and ECE."""
    if reference not in strategies:
        return pd.DataFrame()
    parts = []
    for other in strategies:
        if other == reference:
            continue
        for metric in ("test_acc", "test_ece"):
            try:
                parts.append(compare(df, reference, other, metric))
            except ValueError:
                continue
    if not parts:
        return pd.DataFrame()
    c = pd.concat(parts, ignore_index=True)
    columns = ["experiment", "dataset", "a", "b", "metric", "n_pairs", "mean_a", "mean_b", "mean_diff",
               "ci_low", "ci_high", "ci_method", "ttest_p", "wilcoxon_p", "n_rows", "mcnemar_p",
               "rows_ci_low", "rows_ci_high", "examples_note"]
    if (c["n_pairs"] < 2).all():  # one seed: a test over seeds has nothing to test (p = 1)
        columns = [k for k in columns if k not in SEED_STATISTICS]
    elif c["ci_low"].isna().all():  # every interval withheld: said once, in the note below
        columns = [k for k in columns if k not in INTERVAL_COLUMNS]
    return c[columns]


#: the comparison columns that test over seeds: left out of a one-seed report
SEED_STATISTICS = ("ci_low", "ci_high", "ci_method", "ttest_p", "wilcoxon_p")
#: the interval over seeds, left out where every row withheld it (below 5 pairs)
INTERVAL_COLUMNS = ("ci_low", "ci_high", "ci_method")


#: metadata.json key of the commit a run was made at (harness/run/metadata.py).
COMMIT_KEY = "git_commit"
#: metadata.json key mapping each strategy to its declared search space, one readable line.
SEARCH_SPACES_KEY = "search_spaces"


def commits_note(metadata: dict[str, dict[str, Any]]) -> str | None:
    """A warning when the runs pooled here were made at different commits (or some at an unknown
    one): a comparison across code versions is not one experiment. None when they agree."""
    commits = {run: (meta or {}).get(COMMIT_KEY) for run, meta in metadata.items()}
    known = {c for c in commits.values() if isinstance(c, str) and c}
    unknown = [run for run, c in commits.items() if not (isinstance(c, str) and c)]
    if len(known) <= 1 and not (known and unknown):
        return None
    by = ", ".join(f"{run}: {str(c)[:12] if c else 'unknown'}" for run, c in sorted(commits.items()))
    return (f"these results pool runs made at {len(known)} different commit{'s' if len(known) != 1 else ''}"
            f"{' and at an unknown one' if unknown else ''} ({by}): the code that produced them differs, "
            "so differences between strategies may be differences between versions")


def _protocol(meta: dict[str, Any]) -> str:
    spec = meta.get("spec") if isinstance(meta.get("spec"), dict) else {}
    p = spec.get("protocol") if spec else None
    return str(p) if p else ("not recorded (runs before the protocol existed: every final model's n_train "
                             "is in the table)")


def _spaces(meta: dict[str, Any]) -> pd.DataFrame:
    spaces = meta.get(SEARCH_SPACES_KEY)
    if not isinstance(spaces, dict) or not spaces:
        return pd.DataFrame()
    return pd.DataFrame({"strategy": [str(k) for k in spaces], "search space": [str(v) for v in spaces.values()]})


def _environment(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k != "spec"}


def _sweep_section(df: pd.DataFrame, cost: str) -> list[str]:
    """The budget sweep's tables: variants (Pareto front and reference marked) and cost to match."""
    h = [f"<h2>Budget sweep (cost: {html.escape(AXIS_LABELS[cost])})</h2>"]
    s = sweep_summary(df, cost=cost)
    h.append(_table(display_sweep(s)) if len(s) else '<p class="note">(no variants)</p>')
    try:
        ctm = cost_to_match(df, cost=cost)
    except ValueError as e:
        h.append(f'<p class="warn">No cost to match: {html.escape(str(e))}</p>')
    else:
        h.append("<h3>Cost to match the reference</h3>")
        h.append(_table(display_cost_to_match(ctm)))
    h.append(f'<p class="note">{html.escape(SWEEP_NOTE)}.</p>')
    return h


def write_report(path_or_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                 out_html: str | os.PathLike[str], *, title: str | None = None,
                 within: float = 1.0, cost: str = DEFAULT_COST) -> Path:
    """Write the comparison of the experiment(s) at ``path_or_paths`` to ``out_html``.

    The page holds: each run's status (a running or interrupted run is flagged
    at the top), the summary table (:func:`analysis.summary.summarize`), paired
    comparisons of cross_reg (a sweep's reference variant) against each strategy
    (accuracy and ECE), the
    compute-to-quality table (within ``within`` accuracy points), the four
    figures of :mod:`analysis.plots`, every load warning, and each run's spec and
    environment from metadata.json; for a budget sweep (metadata.json's ``sweep``) also
    the variants' table, the cost to match the reference and the sweep figure. Costs,
    cost ratios and the figures' x axes are on the ``cost`` axis (``fwd``, ``flops``,
    ``device_seconds``; ``wall`` for wall-clock seconds). Each run's protocol (metadata.json
    ``spec.protocol``) is shown under its status and each strategy's declared search space
    (``search_spaces``) with its spec. Runs made at different commits (``git_commit``) are
    pooled with a warning on the page and a :class:`ResultsWarning`: one comparison should be
    one version of the code. Returns the path written.
    """
    check_axis(cost)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)  # they are printed on the page instead
        df = load_results(path_or_paths)
    status: dict[str, str] = dict(df.attrs.get("status", {}))
    metadata: dict[str, dict[str, Any]] = dict(df.attrs.get("metadata", {}))
    load_warnings: list[str] = list(df.attrs.get("warnings", []))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = summarize(df, cost=cost) if len(df) else pd.DataFrame()
        strategies = sorted(summary["strategy"].astype(str).unique()) if len(summary) else []
        refs = sweep_references(metadata, set(status)) if "cross_reg" not in strategies else []
        comparisons = _comparisons(df, strategies, *refs[:1]) if len(df) else pd.DataFrame()
        ctq = compute_to_quality(df, within=within, cost=cost) if len(df) else pd.DataFrame()
        sweep = _sweep_section(df, cost) if len(df) and plots.is_sweep(df) else []
        figures = plots.all_figures(df, cost=cost) if len(df) else {}
        images = {name: figure_to_base64(fig) for name, fig in figures.items()}
    load_warnings += [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    mixed = commits_note(metadata)
    if mixed:
        warnings.warn(mixed, ResultsWarning, stacklevel=2)

    runs = ", ".join(status) or "(none)"
    title = title or f"crossreg comparison: {runs}"
    h: list[str] = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                    f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
                    f"<h1>{html.escape(title)}</h1>"]
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    h.append(f'<p class="note">Generated {when} by analysis.report from {len(df)} result rows.</p>')
    h.append("<h2>Status</h2><p>")
    for run, st in status.items():
        h.append(f'{html.escape(run)} <span class="badge {html.escape(st)}">{html.escape(st)}</span>&nbsp; ')
    h.append("</p>")
    if any(st != "finished" for st in status.values()):
        h.append('<p class="warn">Some runs are not finished: their numbers are partial '
                 '(trials still running or cut short).</p>')
    if mixed:
        h.append(f'<p class="warn">Mixed commits: {html.escape(mixed)}.</p>')
    h.append("<p>Protocol (which rows the final models train on): "
             + "; ".join(f"{html.escape(run)}: <b>{html.escape(_protocol(meta or {}))}</b>"
                         for run, meta in metadata.items()) + "</p>")

    h.append("<h2>Summary</h2>")
    if len(summary):
        h.append(_table(display_table(summary)))
        if cost != "fwd" and not np.isfinite(summary[total_column(cost)].to_numpy(dtype=float)).any():
            h.append(f'<p class="warn">{html.escape(no_axis_note(cost))}.</p>')
    else:
        h.append('<p class="note">(no results)</p>')
    h.append(f'<p class="note">{html.escape(TABLE_NOTE)}. Final model per strategy and seed: the grid-CV '
             "refit; otherwise the best validation accuracy at the last epoch among trials that ran all "
             "epochs. Cost counts every trial, stopped ones included, relative to cross_reg (else fixed) "
             "unless that diverged or did not finish.</p>")

    h += sweep
    h.append("<h2>Paired comparisons (over seeds)</h2>")
    h.append(_table(comparisons))
    if len(comparisons) and "ttest_p" not in comparisons:
        h.append('<p class="note">One seed: the interval and the tests over seeds are left out (a '
                 "single pair tests nothing); the test-row statistics below still apply.</p>")
    elif len(comparisons) and "ci_low" not in comparisons:
        n = int(comparisons["n_pairs"].max())
        h.append(f'<p class="note">The interval over seeds is withheld in every row: {n} pairs '
                 "(the bootstrap needs 5 or more).</p>")
    h.append('<p class="note">mean_diff = a - b over the seeds both ran; ci: paired BCa bootstrap (95%) '
             "of the mean difference, withheld below 5 pairs (with 3 seeds there are only 10 distinct "
             "resample means, and the interval would be far too narrow); ttest_p: paired t-test; "
             "wilcoxon_p: two-sided Wilcoxon signed-rank (with n pairs it cannot go below 2 / 2<sup>n</sup>: "
             "0.25 with 3 seeds). Test-set noise, where the final models saved their per-example predictions "
             "(test_acc only): n_rows paired (seed, test row) predictions; mcnemar_p: exact McNemar test on the "
             "discordant rows summed over seeds (it conditions on the trained models: do these models differ on "
             "the test population); rows_ci: hierarchical bootstrap (seeds, then test rows) 95% interval of the "
             "accuracy difference, withheld below 5 seeds.</p>")

    h.append(f"<h2>Compute to quality (within {within:g} accuracy points)</h2>")
    if len(ctq):
        ctq = ctq.copy()
        for c in (f"{cost}_to_own", f"{cost}_to_best", total_column(cost)):
            ctq[c] = ctq[c].map(eng)
    h.append(_table(ctq, "{:.4g}"))
    h.append(f'<p class="note">{cost}_to_own: {html.escape(AXIS_LABELS[cost])} until the anytime curve '
             "first comes within the margin of the strategy's own final accuracy; "
             f"{cost}_to_best: of the best strategy's mean final accuracy (mean over the seeds that got there; "
             "reached_*: how many did).</p>")

    h.append("<h2>Plots</h2>")
    for name, b64 in images.items():
        h.append(f"<h3>{html.escape(name)}</h3>")
        h.append(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{b64}">')

    h.append("<h2>Load warnings</h2>")
    if load_warnings:
        h.append('<ul class="warn">' + "".join(f"<li>{html.escape(w)}</li>" for w in load_warnings) + "</ul>")
    else:
        h.append('<p class="note">none: every result file loaded cleanly.</p>')

    h.append("<h2>Spec and environment</h2>")
    for run, meta in metadata.items():
        h.append(f"<h3>{html.escape(run)}</h3>")
        if not meta:
            h.append('<p class="note">no metadata.json</p>')
            continue
        spaces = _spaces(meta)
        if len(spaces):
            h.append("<h4>declared search spaces</h4>" + _table(spaces))
        if "spec" in meta:
            h.append("<h4>spec</h4><pre>" + html.escape(json.dumps(meta["spec"], indent=2, default=str)) + "</pre>")
        h.append("<h4>environment</h4><pre>"
                 + html.escape(json.dumps(_environment(meta), indent=2, default=str)) + "</pre>")
    h.append(f'<p class="note">Report rendered with Python {platform.python_version()}, pandas '
             f"{pd.__version__}.</p></body></html>")

    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(h), encoding="utf-8")
    return out
