"""Anytime ranks at equal budget, and the across-task figures (critical-difference diagram, ranks
against budget), read back from the numbers and from the drawn matplotlib objects."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from fake_runs import write_experiment
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

import analysis
from analysis import plots
from analysis.across_plots import cd_groups
from analysis.results import ResultsWarning, load_results
from analysis.summary import across_tasks, anytime_ranks

CURVES = {  # per strategy: cumulative FLOPs and the best-by-validation test accuracy after each row
    "cross_reg": ([10, 20, 30, 40], [0.5, 0.6, 0.7, 0.8]),
    "pbt": ([40, 80, 120, 160], [0.6, 0.7, 0.8, 0.9]),
    "fixed": ([5, 10, 15, 20], [0.4, math.nan, 0.55, 0.6]),  # NaN: a row not observed (observe_every)
}


def curves(tasks=("a", "b"), seeds=(0, 1)) -> pd.DataFrame:
    rows = [{"experiment": t, "dataset": "d", "strategy": s, "run": f"{t}-run", "seed": k, "cum_flops": c,
             "value": v}
            for t in tasks for k in seeds for s, (cs, vs) in CURVES.items() for c, v in zip(cs, vs)]
    return pd.DataFrame(rows)


def ranks_at(table: pd.DataFrame) -> dict[str, list[float]]:
    return {s: list(g.sort_values("fraction")["mean_rank"]) for s, g in table.groupby("strategy")}


def test_ranks_at_multiples_of_the_references_cost():
    r = anytime_ranks(curves(), fractions=[0.25, 0.5, 1, 2, 4])
    # budgets 10, 20, 40, 80, 160 FLOPs. At 10 pbt has no model yet (last); fixed holds its
    # 0.4 over the unobserved row at 10; at 20 fixed and cross_reg tie at 0.6; past 40
    # cross_reg keeps its final 0.8 and pbt overtakes it only at 160.
    assert ranks_at(r) == {"cross_reg": [1, 1.5, 1, 1, 2], "fixed": [2, 1.5, 2.5, 3, 3],
                           "pbt": [3, 3, 2.5, 2, 1]}
    missing = r[r["strategy"] == "pbt"].sort_values("fraction")["missing"].tolist()
    assert missing == [1, 1, 0, 0, 0]
    assert (r["tasks"] == 2).all() and (r["blocks"] == 4).all()
    assert r.attrs["relative_to"] == "reference" and r.attrs["reference"] == "cross_reg"


def test_ranks_at_fractions_of_each_strategys_own_cost():
    r = anytime_ranks(curves(), fractions=[0.25, 0.5, 1.0], relative_to="own")
    assert ranks_at(r) == {"cross_reg": [2, 2, 2], "fixed": [3, 3, 3], "pbt": [1, 1, 1]}


def test_lower_is_better_and_blocks_without_every_strategy_are_left_out():
    c = curves()
    c = c[~((c["experiment"] == "b") & (c["strategy"] == "pbt"))]
    r = anytime_ranks(c.assign(value=1 - c["value"]), metric="test_ece", fractions=[4])
    assert ranks_at(r) == {"cross_reg": [2], "fixed": [3], "pbt": [1]}
    assert (r["tasks"] == 1).all() and (r["blocks"] == 2).all()
    with pytest.raises(ValueError, match="relative_to"):
        anytime_ranks(c, relative_to="other")
    with pytest.raises(ValueError, match="no 'cross_reg'"):
        anytime_ranks(c, strategies=["pbt", "fixed"])


def test_anytime_ranks_from_a_loaded_suite(tmp_path):
    root = tmp_path / "suite"
    root.mkdir()
    for i, task in enumerate(("t1", "t2")):
        write_experiment(root, name=f"{task}-run", experiment=task, seeds=(0, 1), epochs=4,
                         strategies=("cross_reg", "fixed", "pbt"), quality={"cross_reg": 0.8 + 0.01 * i, "fixed": 0.7})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        df = load_results(root)
    r = analysis.anytime_ranks(df, cost="fwd", fractions=[1.0, 64.0])
    assert set(r["strategy"]) == {"cross_reg", "fixed", "pbt"} and (r["blocks"] == 4).all()
    # at the reference's own cost cross_reg has its final model, the best of the three by design
    at1 = r[r["fraction"] == 1.0].set_index("strategy")["mean_rank"]
    assert at1["cross_reg"] == 1.0
    fig = plots.anytime_ranks_figure(r)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_ylim()[0] > ax.get_ylim()[1]  # rank 1 at the top
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"cross_reg", "fixed", "pbt"}


def test_cd_groups_join_strategies_within_the_critical_difference():
    ranks = {"a": 1.0, "b": 1.5, "c": 3.0, "d": 3.2, "e": 3.9}
    assert cd_groups(ranks, 1.0) == [("a", "b"), ("c", "d", "e")]
    assert cd_groups(ranks, 0.4) == [("c", "d")]
    assert cd_groups(ranks, 10.0) == [("a", "b", "c", "d", "e")]
    assert cd_groups(ranks, math.nan) == []


def _boxes(fig) -> list:
    """Every visible text of the drawn figure with its extent in pixels."""
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    drawn = [x for ax in fig.axes for x in (*ax.texts, ax.title)]  # the axis is off: no tick labels
    texts = [t for t in drawn if t.get_text() and t.get_visible()]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts]


@pytest.mark.parametrize("k", [3, 6, 9])
def test_cd_diagram_labels_never_overlap(k):
    rng = np.random.default_rng(k)
    names = ["cross_reg", "fixed", "pbt", "asha", "grid_cv", "random", "hyperband", "t1t2", "deep_ensemble"][:k]
    rows = [{"task": f"t{t}", "strategy": s, "seed": 0, "test_acc": 0.7 + 0.01 * rng.standard_normal()}
            for t in range(6) for s in names]
    table = across_tasks(pd.DataFrame(rows))
    # near-equal ranks on purpose: labels next to each other on the axis
    fig = plots.cd_diagram(table)
    boxes = _boxes(fig)
    labels = [n for n, _ in boxes if n.split(" (")[0] in names]
    assert len(labels) == k  # one label per strategy, with its mean rank
    for (na, a), (nb, b) in itertools.combinations(boxes, 2):  # labels, ticks, CD, title
        assert not a.overlaps(b), (na, nb)
    fig_box = fig.bbox
    for name, b in boxes:  # nothing cut off at the figure's edges
        assert b.x0 >= fig_box.x0 - 1 and b.x1 <= fig_box.x1 + 1, name
    assert "CD = " in " ".join(t.get_text() for t in fig.findobj(Text))


def test_cd_diagram_with_too_few_strategies_says_so():
    t = across_tasks(pd.DataFrame([{"task": "a", "strategy": "cross_reg", "seed": 0, "test_acc": 0.8}]))
    fig = plots.cd_diagram(t)
    assert "fewer than two" in " ".join(x.get_text() for x in fig.findobj(Text))
