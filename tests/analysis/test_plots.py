"""The report's figures, read back from the matplotlib objects: axes, limits, ticks, labels."""

from __future__ import annotations

import itertools
import re
import warnings

import numpy as np
import pytest
from fake_runs import rewrite_rows, write_experiment, write_sweep
from matplotlib.collections import PathCollection

from analysis import plots
from analysis.report import write_report
from analysis.results import ResultsWarning, load_results
from analysis.summary import pareto_front, summarize, sweep_summary


def _quiet(root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        return load_results(root)


@pytest.fixture(scope="module")
def near_one(tmp_path_factory):
    """3 epochs (the default locator would tick 1.5), rho 0.1 learned vs 2.2 searched, and
    cross_reg's final accuracy near 1 in every seed with a spread (its interval passes 100%)."""
    exp = write_experiment(tmp_path_factory.mktemp("plots"), seeds=(0, 1, 2), epochs=3, reliability=True,
                           strategies=("cross_reg", "pbt", "asha"))
    for k, acc in enumerate((0.999, 0.95, 0.998)):
        for st in ("cross_reg", "pbt"):
            for p in (exp.root / f"{st}-seed{k}").rglob("result.json"):
                def change(rows, st=st, acc=acc):
                    for e, r in enumerate(rows):
                        for name in ("sigma_0", "sigma_1"):
                            r[f"rho/{name}"] = 0.1 + 0.01 * e if st == "cross_reg" else 2.2 + 0.1 * (e % 2)
                        if st == "cross_reg":
                            r["test_acc"] = acc - 0.01 * (len(rows) - 1 - e)
                rewrite_rows(p, change)
    return exp, _quiet(exp.root)


def test_each_rho_panel_has_its_own_y_axis(near_one):
    _, df = near_one
    fig = plots.rho_figure(df)
    learned, searched = fig.axes[:2]
    assert not learned.get_shared_y_axes().joined(learned, searched)
    assert learned.get_ylim()[1] < 0.5 and searched.get_ylim()[0] > 1.5  # 0.1 is not flattened next to 2.2
    assert learned.get_ylim() != searched.get_ylim()


def test_epoch_ticks_are_whole_epochs(near_one):
    _, df = near_one
    for ax in plots.rho_figure(df).axes[:2]:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_accuracy_axes_stop_at_100_percent(near_one, tmp_path):
    _, df = near_one
    s = summarize(df).set_index("strategy")
    assert s.loc["cross_reg", "test_acc_ci_high"] == 1.0  # the interval was cut: the bar reaches 100
    for fig in (plots.anytime_figure(df), plots.pareto_figure(df), plots.sweep_figure(df)):
        for ax in fig.axes:
            lo, hi = ax.get_ylim()
            assert 0 <= lo < hi <= 100, (fig.axes[0].get_title(), lo, hi)
    for ax in plots.reliability_figure(df).axes:
        assert ax.get_ylim() == (0.0, 1.0)


def test_reliability_bars_carry_their_counts(near_one):
    exp, df = near_one
    fig = plots.reliability_figure(df)
    n = len(exp.seeds)
    want = [str(c * n) for c in (5, 10, 20, 40)] + [str((100 + exp.epochs) * n)]  # builder: bins 10..14
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.texts]
        assert labels == want, labels  # one per non-empty bin, none for the empty ones
        for t in ax.texts:  # at the foot of its bar, inside the axes
            assert t.xy[1] == 0.0 and 10 / 15 <= t.xy[0] <= 1.0


def test_the_cost_axis_option(near_one, tmp_path):
    _, df = near_one
    wall = plots.anytime_figure(df, cost="wall").axes[0]
    assert "wall-clock" in wall.get_xlabel() and len(wall.get_lines()) == 3
    fig = plots.pareto_figure(df, cost="wall")
    ax = fig.axes[0]
    assert "wall-clock seconds per seed" in ax.get_xlabel()
    xs = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_marker() == "o")
    np.testing.assert_allclose(xs, sorted(summarize(df)["wall_seconds"]))
    # an older run has no device seconds: the figures say so instead of plotting zeros
    dev = plots.anytime_figure(df, cost="device_seconds")
    assert not dev.axes and "device seconds" in dev.texts[0].get_text()
    assert "known cost" in plots.pareto_figure(df, cost="flops").texts[0].get_text()
    with pytest.raises(ValueError, match="unknown cost axis"):
        plots.anytime_figure(df, cost="joules")


SWEEP = {
    "cross_reg.r10K4": ("cross_reg", {"r": 10, "K": 4}, {0: (0.70, 300), 1: (0.72, 300)}),
    "cross_reg.r1K4": ("cross_reg", {"r": 1, "K": 4}, {0: (0.80, 1000), 1: (0.82, 1000)}),
    "pbt.P2": ("pbt", {"pbt_population": 2}, {0: (0.70, 1000), 1: (0.70, 1000)}),
    "pbt.P4": ("pbt", {"pbt_population": 4}, {0: (0.999, 4000), 1: (0.90, 8000)}),
}


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    return write_sweep(tmp_path_factory.mktemp("sweep_plot"), SWEEP)


def test_sweep_figure_draws_each_method_and_marks_the_front(sweep_run):
    df = _quiet(sweep_run)
    fig = plots.sweep_figure(df, cost="fwd")
    [ax] = fig.axes
    assert ax.get_xscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert "cross_reg (2 budgets)" in labels and "pbt (2 budgets)" in labels and "Pareto front" in labels
    assert any(lbl.startswith("reference (cross_reg.r1K4") for lbl in labels)
    [front] = [line for line in ax.get_lines() if line.get_label() == "Pareto front"]
    want = pareto_front(sweep_summary(df, cost="fwd"), cost="fwd")
    np.testing.assert_allclose(front.get_xdata(), want["fwd_total"])
    np.testing.assert_allclose(front.get_ydata(), want["test_acc_mean"] * 100)
    stars = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_label().startswith("reference")]
    assert len(stars) == 1
    assert {t.get_text() for t in ax.texts} >= {"r=10, K=4", "pbt_population=4"}
    assert ax.get_ylim()[1] <= 100  # P4's interval passes 100% in a 2-seed sweep
    flops = plots.sweep_figure(df, cost="flops").axes[0]
    assert "FLOPs" in flops.get_xlabel()


#: the headline's crowding: budgets of one method at nearly one cost and accuracy, and another
#: method's points on top of them ("asha_samples=16asha_samples=32", "K=1, r=10K=4, r=40")
CROWDED = {
    **{f"asha.N{n}": ("asha", {"asha_samples": n}, {0: (0.70 + n / 1e4, 1000 + n), 1: (0.71, 1000 + n)})
       for n in (4, 8, 16, 32)},
    **{f"cross_reg.r{r}K{k}": ("cross_reg", {"r": r, "K": k}, {0: (0.70 + r / 1e4, 1000 + r + k),
                                                              1: (0.71, 1000 + r + k)})
       for r, k in ((1, 4), (10, 1), (10, 4), (40, 4))},
    "pbt.P8": ("pbt", {"pbt_population": 8}, {0: (0.999, 1004), 1: (0.99, 1004)}),  # at the frame
}


def test_sweep_labels_never_overlap_nor_leave_the_figure(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    fig = plots.sweep_figure(_quiet(write_sweep(tmp_path, CROWDED)), cost="fwd")
    FigureCanvasAgg(fig)
    fig.savefig(tmp_path / "sweep.png", dpi=110)  # as the headline is saved; lays it out again
    fig.canvas.draw()  # measured in one draw at the figure's own dpi (savefig's is undone)
    renderer = fig.canvas.get_renderer()
    [ax] = fig.axes
    labels = [t for t in ax.texts if t.get_text()]
    assert len(labels) == len(CROWDED)  # every budget labelled
    boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in labels]  # not the leader line
    assert len({(round(b.x0), round(b.y0)) for _, b in boxes}) == len(boxes)  # measured where drawn
    for (na, a), (nb, b) in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (na, nb)
    frame = ax.get_window_extent(renderer)
    for name, b in boxes:
        assert frame.x0 - 1 <= b.x0 and b.x1 <= frame.x1 + 1 and frame.y0 - 1 <= b.y0 and b.y1 <= frame.y1 + 1, name


def test_a_point_at_the_specs_own_budget_is_default_or_unlabelled(tmp_path):
    """The headline's variants: cross_reg at the spec's budget beside its r=10, K=1 variant
    ("default" tells them apart), and ASHA at the spec's budget alone (the legend names it)."""
    runs = {"cross_reg": ("cross_reg", {}, {0: (0.70, 1000), 1: (0.71, 1000)}),
            "cross_reg.r10K1": ("cross_reg", {"r": 10, "K": 1}, {0: (0.69, 300), 1: (0.70, 300)}),
            "asha": ("asha", {}, {0: (0.68, 2000), 1: (0.69, 2000)})}
    [ax] = plots.sweep_figure(_quiet(write_sweep(tmp_path, runs, reference="cross_reg")),
                              cost="fwd").axes
    assert sorted(t.get_text() for t in ax.texts if t.get_text()) == ["default", "r=10, K=1"]


def test_the_report_has_a_sweep_section_for_a_sweep_only(sweep_run, near_one, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = write_report(sweep_run, tmp_path / "sweep.html", cost="flops").read_text()
        plain = write_report(near_one[0].root, tmp_path / "plain.html").read_text()
    assert "<h2>Budget sweep (cost: FLOPs" in text and "Cost to match the reference" in text
    assert len(re.findall(r'<img alt="([^"]+)"', text)) == 5 and '<img alt="Budget sweep"' in text
    assert "<td>pbt.P4</td>" in text and "x cross_reg.r1K4 (FLOPs)" in text
    # the reference variant paired with every other, per seed: 2 pairs, no interval (one note)
    assert "The interval over seeds is withheld in every row: 2 pairs" in text
    assert "Budget sweep" not in plain and len(re.findall(r"<img ", plain)) == 4
    with pytest.raises(ValueError, match="unknown cost axis"):
        write_report(sweep_run, tmp_path / "x.html", cost="joules")
