"""A final model that learned nothing is flagged `collapsed` and is never the cost reference
(issue 20: a run at ``lr=100`` put every strategy at chance, NLL ~23, and the table said
`finished` and priced everything against it)."""

from __future__ import annotations

import math

import pytest
from fake_runs import rewrite_rows, write_experiment

import analysis
from analysis.contract import collapsed


@pytest.mark.parametrize(("acc", "nll", "majority", "n_classes", "n_test", "expected"), [
    (0.10, 2.0, 0.10, 10, 1000, True),     # at chance
    (0.11, 2.0, 0.10, 10, 1000, True),     # within two standard errors of chance (2 x 0.95 pp)
    (0.13, 2.0, 0.10, 10, 1000, False),    # above it
    (0.13, 2.0, 0.10, 10, 100, True),      # the same accuracy on 100 rows is not above chance
    (0.90, 23.0, 0.10, 10, 1000, True),    # accurate but worse than the uniform predictor's NLL
    (0.90, math.log(10) - 1e-9, 0.10, 10, 1000, False),
    (0.50, math.nan, math.nan, math.nan, 1000, False),  # unknown: decides nothing
    (math.nan, math.nan, math.nan, math.nan, 1000, False),  # regression
])
def test_the_rule(acc, nll, majority, n_classes, n_test, expected):
    assert collapsed(acc, nll, majority, n_classes, n_test) is expected


def _chance(run, strategy: str, *, acc: float | None = None, nll: float | None = None) -> None:
    """Give every row of ``strategy`` the chance columns (10 balanced classes); optionally
    put its final test accuracy / NLL at ``acc`` / ``nll``."""
    def change(rows):
        for r in rows:
            r.update(test_majority_acc=0.1, n_classes=10)
        if acc is not None:
            rows[-1]["test_acc"] = acc
        if nll is not None:
            rows[-1]["test_nll"] = nll

    for path in run.glob(f"{strategy}-seed*/*/result.json"):
        rewrite_rows(path, change)


def test_a_collapsed_strategy_is_flagged_and_not_the_cost_reference(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg", "fixed"), completed=True)
    _chance(exp.root, "fixed")
    _chance(exp.root, "cross_reg", acc=0.1, nll=23.0)  # every seed at chance
    table = analysis.summarize(analysis.load_results(exp.root), cost="fwd").set_index("strategy")
    assert table.loc["cross_reg", "n_collapsed"] == 3
    assert "collapsed (3 of 3 seeds)" in table.loc["cross_reg", "status"]
    assert table.loc["fixed", "n_collapsed"] == 0 and table.loc["fixed", "status"] == "finished"
    assert (table["cost_reference"] == "fixed").all()  # cross_reg passed over as the reference


def test_without_chance_columns_nothing_is_flagged(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg", "fixed"), completed=True)
    table = analysis.summarize(analysis.load_results(exp.root), cost="fwd").set_index("strategy")
    assert (table["n_collapsed"] == 0).all() and (table["cost_reference"] == "cross_reg").all()

