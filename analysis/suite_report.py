"""One HTML page for a suite directory: the answer across tasks, each task's own report linked.

A suite directory holds ``suite.json`` and one run directory per task (``crossreg suite``). The
page holds the across-task table (:func:`analysis.across_tasks`, shown as
:func:`analysis.format_across_tasks` prints it), the critical-difference diagram, the anytime
ranks, a grid of accuracy-vs-cost plots with one small panel per task, and a table of the tasks
linking each one's own report (written by :func:`analysis.report.write_report` into its run
directory, linked relatively, so the suite directory can be moved or zipped whole). Where a
statistic means nothing here (one task: no ranks across tasks; one seed: no interval and no
paired test) the page says so in a note instead of printing it. Self-contained as the run
report is (PNGs inline, no script); tables scroll in their own box and figures fit a 1,400 px
page.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from matplotlib.figure import Figure

from . import plots
from .contract import COST_AXES, DEFAULT_COST
from .report import _CSS as RUN_CSS
from .report import _table, commits_note, figure_to_base64, write_report
from .results import ResultsWarning, load_results
from .summary import MIN_BOOTSTRAP, across_tasks, anytime_ranks, final_rows, summarize
from .summary.across import REFERENCE
from .summary.across_display import display_across_tasks
from .summary.costs import AXIS_LABELS, AXIS_SHORT, check_axis
from .summary.display import no_axis_note

#: The file that makes a directory a suite directory (harness.run.suite.FILE: analysis imports nothing of harness).
SUITE_FILE = "suite.json"
#: Each task's own report, in its run directory (the name `crossreg report RUN_DIR` writes).
TASK_REPORT = "report.html"
#: Widest the page gets; figures are drawn narrower than this at the report's 90 dpi.
PAGE_PX = 1400
_CSS = RUN_CSS + f"""body{{max-width:{PAGE_PX}px;box-sizing:border-box}}
.scroll table{{margin:0}}td,th{{white-space:normal}}
"""


def is_suite(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a local suite directory (it holds ``suite.json``)."""
    return (Path(path) / SUITE_FILE).is_file()


def tasks_recording(df: pd.DataFrame, metric: str) -> pd.Series:
    """Per task, whether any of its rows records ``metric`` (a regression task has no
    accuracy); empty where no row has the column."""
    if metric not in df or not len(df):
        return pd.Series(dtype=bool)
    return df.groupby("task", observed=True)[metric].apply(lambda s: s.notna().any())


def suite_metric(df: pd.DataFrame) -> str:
    """The metric the suite is ranked on: test accuracy where every task has one, else the test
    loss (a suite with a regression task), as ``crossreg analyze SUITE_DIR`` ranks."""
    recorded = tasks_recording(df, "test_acc")
    return "test_acc" if len(recorded) and recorded.all() else "test_loss"


def _note(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{html.escape(text)}</p>'


def _img(name: str, fig: Figure) -> str:
    return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{figure_to_base64(fig)}">'


def _scroll(table_html: str) -> str:  # a wide table scrolls in its own box, never the page
    return f'<div class="scroll">{table_html}</div>'


def _across_section(table: pd.DataFrame, n_tasks: int, max_seeds: int) -> list[str]:
    """The across-task table, its header line and notes; columns that mean nothing withheld."""
    a, shown, h, tests = table.attrs, display_across_tasks(table), [], []
    ref = str(a.get("reference", REFERENCE))
    p, cd = a.get("friedman_p", math.nan), a.get("nemenyi_cd", math.nan)
    if isinstance(p, float) and math.isfinite(p):
        tests.append(f"Friedman p = {p:.3g}")
    if n_tasks >= 2 and isinstance(cd, float) and math.isfinite(cd):
        tests.append(f"Nemenyi CD = {cd:.2f} (alpha {a.get('alpha', 0.05)}) on task ranks")
    h.append(f"<p>Across {n_tasks} task{'s' if n_tasks != 1 else ''} ({a.get('n_blocks', '?')} task x seed "
             f"blocks), {html.escape(str(a.get('metric')))} ({'higher' if a.get('mode') == 'max' else 'lower'} "
             f"is better){': ' + html.escape('; '.join(tests)) if tests else ''}.</p>")
    withheld = []
    if n_tasks < 2:
        shown = shown.drop(columns=["task rank"])
        withheld.append("one task: no Friedman test, no Nemenyi critical difference and no task ranks; "
                        "they compare strategies across tasks, and the mean rank here is this task's alone")
    if max_seeds < 2:
        shown = shown.drop(columns=[c for c in shown.columns if c.startswith(("score IQM", "W/T/L"))])
        withheld.append(f"one seed per task: no score interval (nothing to resample) and no wins/ties/losses "
                        f"against {ref} (a paired test needs two seeds or more); the score itself is one "
                        "model per task")
    h += [_scroll(_table(shown)), *(_note(f"Not shown: {w}.") for w in withheld)]
    if max_seeds >= 2 and all("withheld" in str(v) for v in shown.filter(like="score IQM").iloc[:, 0]):
        h.append(_note(f"Score intervals withheld: fewer than {MIN_BOOTSTRAP} scores to resample, where an "
                       "interval would read as certainty."))
    h += [_note(f"Note: {n}.") for n in a.get("notes", []) if not (n_tasks < 2 and "Friedman" in n)]
    legend = {"mean rank": "within each task x seed block (1 = best), averaged over seeds, then tasks",
              "task rank": "of the per-task means (what the Friedman test and the CD diagram are about)",
              "score IQM": f"0 = {a.get('baseline', 'fixed')}'s per-task mean, 1 = the best strategy's, "
                           "interquartile mean over tasks x seeds, stratified bootstrap interval",
              "W/T/L": f"tasks won, tied, lost against {ref} by a paired {a.get('test', 'ttest')} over seeds "
                       f"at {a.get('alpha', 0.05)}",
              "cost x": f"median over tasks of the mean cost per seed over {ref}'s"}
    h.append(_note("; ".join(f"{k}: {v}" for k, v in legend.items()
                             if any(c.startswith(k) for c in shown.columns)) + "."))
    return h


def _per_task_table(df: pd.DataFrame, metric: str, max_seeds: int, order: list[str]) -> str:
    """One row per strategy, one column per task: mean final ``metric`` over seeds (± sd)."""
    fin = final_rows(df)
    fin = fin.assign(strategy=fin["strategy"].astype(str), task=fin["task"].astype(str))
    g = fin.groupby(["strategy", "task"])[metric]
    mean, sd = g.mean().unstack("task"), g.std().unstack("task")
    cells = mean.map(lambda v: "-" if pd.isna(v) else f"{v:.4f}")
    if max_seeds >= 2:
        cells = cells + sd.map(lambda v: "" if pd.isna(v) else f" ± {v:.4f}")
    cells = cells.reindex(columns=[t for t in order if t in cells.columns])
    return _scroll(_table(cells.rename_axis(columns=None).reset_index()))


def _grid_figure(df: pd.DataFrame, cost: str, order: list[str]) -> Figure:
    """Accuracy vs cost, one small panel per task (:func:`analysis.plots.pareto_axes`), at most
    three to a row, one legend for all under them. A task without accuracies (a regression)
    shows its test loss instead, so that every task has its panel."""
    s = summarize(df, cost=cost)
    s = s.assign(experiment=s["experiment"].astype(str))
    tasks = [t for t in order if t in set(s["experiment"])]
    with_accuracy = tasks_recording(df, "test_acc")
    ncol = min(3, max(1, len(tasks)))
    nrow = -(-len(tasks) // ncol) if tasks else 1
    fig = Figure(figsize=(4.4 * ncol, 3.3 * nrow + 0.6), layout="constrained")
    seen: dict[str, str] = {}
    handles: dict[str, Any] = {}
    for i, t in enumerate(tasks):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        g = s[s["experiment"] == t]
        ax.set_title(t, fontsize=10)
        metric = "test_acc" if with_accuracy.get(t, False) else "test_loss"
        if not plots.pareto_axes(ax, g, cost, seen, metric):
            ax.text(0.5, 0.5, f"no final model with a test score\nand a known {AXIS_LABELS[cost]}",
                    ha="center", va="center", transform=ax.transAxes, color="#555", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
        ax.tick_params(labelsize=7)
        for hd, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label.split(" (×")[0], hd)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center",
                   ncols=min(6, len(handles)), fontsize=8)
    return fig


def _tasks_section(suite_dir: Path, out: Path, df: pd.DataFrame, cost: str, write_tasks: bool,
                   order: list[str]) -> list[str]:
    """A row per task (in ``order``, suite.json's): its status, seeds, strategies, and a relative link to
    its report."""
    status: dict[str, str] = dict(df.attrs.get("status", {}))
    metadata: dict[str, dict[str, Any]] = dict(df.attrs.get("metadata", {}))
    by_run = (df.groupby("run", observed=True)["task"].first().astype(str).to_dict() if len(df) else {})
    task_of = {}
    for run in status:
        meta = metadata.get(run) or {}
        spec: dict[str, Any] = meta["spec"] if isinstance(meta.get("spec"), dict) else {}
        task_of[run] = by_run.get(run) or str(spec.get("name") or meta.get("experiment") or run)
    rows = []
    for run in sorted(status, key=lambda r: (order.index(task_of[r]) if task_of[r] in order else len(order), r)):
        rows_of = df[df["run"].astype(str) == run] if len(df) else df
        link = "-"
        target = suite_dir / run / TASK_REPORT
        if write_tasks:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    write_report(suite_dir / run, target, title=f"crossreg task {task_of[run]}: {run}", cost=cost)
            except (OSError, ValueError) as e:
                link = html.escape(f"not written: {type(e).__name__}: {e}")
        if target.is_file() and link == "-":
            href = quote(Path(os.path.relpath(target, out.parent)).as_posix())
            link = f'<a href="{html.escape(href)}">{html.escape(run)}/{TASK_REPORT}</a>'
        st = html.escape(status[run])
        rows.append([task_of[run], f'<span class="badge {st}">{st}</span>',
                     str(rows_of["seed"].nunique()) if len(rows_of) else "0",
                     ", ".join(sorted(rows_of["strategy"].astype(str).unique())) if len(rows_of) else "-", link])
    for task in (t for t in order if t not in task_of.values()):  # in suite.json, no run yet
        rows.append([task, '<span class="badge unknown">not started</span>', "0", "-", "-"])
    for r in rows:
        r[0], r[3] = html.escape(r[0]), html.escape(r[3])
    h = ["<h2>Tasks</h2>"]
    if rows:
        h.append(_scroll(pd.DataFrame(rows, columns=["task", "status", "seeds", "strategies", "report"])
                         .to_html(index=False, escape=False, border=0)))
    else:
        h.append(_note("(no task runs in this directory)"))
    if any(st != "finished" for st in status.values()) or len(rows) > len(status):
        h.append(_note("Some tasks are not finished: their numbers, and the numbers across tasks, are partial.",
                       "warn"))
    return h


def write_suite_report(suite_dir: str | os.PathLike[str], out_html: str | os.PathLike[str] | None = None, *,
                       title: str | None = None, cost: str = DEFAULT_COST, task_reports: bool = True) -> Path:
    """Write the page of the suite directory ``suite_dir`` to ``out_html`` (default
    ``SUITE_DIR/report.html``) and, with ``task_reports``, each task's own report into its run
    directory (``RUN_DIR/report.html``), linked from the page. ``cost``: the axis of the cost
    ratios, the anytime ranks and the per-task plots (``flops`` by default; ``fwd``,
    ``device_seconds``, ``wall``). Returns the path written."""
    check_axis(cost)
    root = Path(suite_dir)
    out = Path(out_html) if out_html is not None else root / "report.html"
    try:
        record = json.loads((root / SUITE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    record = record if isinstance(record, dict) else {}  # unreadable: the runs still say what ran
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)  # printed on the page instead
        df = load_results(root)
    load_warnings = list(df.attrs.get("warnings", []))
    metadata = dict(df.attrs.get("metadata", {}))
    title = title or f"crossreg suite: {record.get('name') or root.name}"
    h = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n_strats = len(record.get("strategies") or (df["strategy"].astype(str).unique() if len(df) else []))
    n_tasks, seeds = len(record.get("tasks", [])), record.get("seeds", "?")
    h.append(_note(f"Generated {when} by analysis.suite_report from {root.name}: {n_tasks} task"
                   f"{'s' * (n_tasks != 1)} x {n_strats} strateg{'y' if n_strats == 1 else 'ies'} x {seeds} seed"
                   f"{'s' * (seeds != 1)}, suite status {record.get('status', 'unknown')}, commit "
                   f"{str(record.get('commit') or 'unknown')[:12]}."))
    if record.get("description"):
        h.append(f"<p>{html.escape(str(record['description']))}</p>")
    listed = [str(t.get("name")) for t in record.get("tasks", []) if isinstance(t, dict)]
    present = list(dict.fromkeys(df["task"].astype(str))) if len(df) else []
    order = [t for t in listed if t in present] + [t for t in present if t not in listed]
    mixed = commits_note(metadata)
    if mixed:
        h.append(_note(f"Mixed commits: {mixed}.", "warn"))
    if len(df) and cost in COST_AXES and not df.reindex(columns=list(COST_AXES[cost])).notna().to_numpy().any():
        h.append(_note(f"{no_axis_note(cost)}.", "warn"))
    h += _tasks_section(root, out, df, cost, task_reports, [*order, *(t for t in listed if t not in order)])
    if not len(df):
        h.append(_note("No result rows yet: nothing to compare.", "warn"))
        return _write(out, h, load_warnings)
    metric = suite_metric(df)
    fin = final_rows(df)
    max_seeds = int(fin.groupby("task", observed=True)["seed"].nunique().max()) if len(fin) else 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h.append("<h2>Across tasks</h2>")
        table = None
        try:
            table = across_tasks(df, metric=metric, cost=cost)
        except ValueError as e:
            h.append(_note(f"No across-task table: {e}.", "warn"))
        if table is not None:
            h += _across_section(table, int(table.attrs["n_tasks"]), max_seeds)
            h.append("<h2>Critical-difference diagram</h2>")
            if int(table.attrs["n_tasks"]) < 2:
                h.append(_note("Not drawn: one task. A critical-difference diagram compares mean ranks across "
                               "tasks; with one there is nothing to generalise over (see the task's report)."))
            else:
                h.append(_img("critical-difference diagram", plots.cd_diagram(table)))
        h.append(f"<h2>Per task: final {html.escape(metric)}</h2>" + _per_task_table(df, metric, max_seeds, order))
        h.append(_note("mean over seeds" + (" ± sd" if max_seeds >= 2 else " (one seed: no sd)") + "."))
        h.append("<h2>Ranks at equal budget</h2>")
        try:
            rel = "reference" if REFERENCE in set(df["strategy"].astype(str)) else "own"
            h.append(_img("anytime ranks", plots.anytime_ranks_figure(
                anytime_ranks(df, metric=metric, cost=cost, relative_to=rel))))
        except ValueError as e:
            h.append(_note(f"Not drawn: {e}."))
        h.append(f"<h2>Accuracy vs {html.escape(AXIS_SHORT[cost])}, per task</h2>")
        h.append(_img("accuracy vs cost per task", _grid_figure(df, cost, order)))
        h.append(_note(f"Each panel: a task's final test accuracy (test loss where it has no accuracy: a "
                       f"regression) per strategy against its {AXIS_LABELS[cost]} "
                       f"per seed, {'one seed, so no interval' if max_seeds < 2 else 'mean and 95% CI over seeds'}"
                       + "; dashed: the task's Pareto front. Each task's own report has its full plots."))
    load_warnings += [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    return _write(out, h, load_warnings)


def _write(out: Path, h: list[str], load_warnings: list[str]) -> Path:
    items = "".join(f"<li>{html.escape(w)}</li>" for w in load_warnings)
    h.append("<h2>Load warnings</h2>"
             + (f'<ul class="warn">{items}</ul>' if items else _note("none: every result file loaded cleanly.")))
    h.append("</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(h), encoding="utf-8")
    return out


__all__ = ["PAGE_PX", "SUITE_FILE", "is_suite", "suite_metric", "tasks_recording", "write_suite_report"]
