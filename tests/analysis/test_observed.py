"""Rows whose model was not observed (``observe_every``): their test metrics are NaN by design,
and the analysis reads them as missing, never as zero and never as divergence."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from fake_runs import rewrite_rows, write_experiment

import analysis
from analysis.contract import OBSERVED_COLUMN
from analysis.plots import anytime_figure

TEST_COLUMNS = ("test_loss", "test_acc", "test_ece", "test_nll", "test_brier")


def _observe_every(run, every: int, epochs: int) -> None:
    """Blank the test metrics of every row of every trial but each `every`-th epoch and the
    last, as a trial with ``observe_every=every`` writes them."""
    def change(rows):
        for r in rows:
            seen = r["epoch"] % every == 0 or r["epoch"] == epochs or r["done"]
            r[OBSERVED_COLUMN] = seen
            if not seen:
                r.update({c: float("nan") for c in TEST_COLUMNS}, fwd_test=0)

    for path in run.glob("*-seed*/*/result.json"):
        rewrite_rows(path, change)


def test_unobserved_rows_are_missing_not_diverged_and_the_summary_holds(tmp_path):
    epochs = 6
    exp = write_experiment(tmp_path, epochs=epochs, strategies=("cross_reg", "fixed", "asha"),
                           reliability=True)
    before = analysis.summarize(analysis.load_results(exp.root), cost="fwd")
    _observe_every(exp.root, 4, epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "NaN/inf metrics (diverged)" warning
        df = analysis.load_results(exp.root)
    assert df[OBSERVED_COLUMN].dtype == bool
    assert not df["diverged"].any()
    unseen = df[~df[OBSERVED_COLUMN]]
    assert len(unseen) and unseen["test_acc"].isna().all()
    assert set(df.loc[df[OBSERVED_COLUMN] & df["strategy"].eq("cross_reg"), "epoch"]) == {4, 6}
    # the final models were observed: the summary is the one with every epoch observed
    after = analysis.summarize(df, cost="fwd")
    cols = ["test_acc_mean", "test_ece_mean", "n_diverged"]
    pd.testing.assert_frame_equal(after[cols], before[cols])
    # anytime curves: NaN where the model in hand was not observed, never 0
    cur = analysis.anytime_curves(df, "test_acc", cost="fwd")
    assert (cur["value"].dropna() > 0.05).all() and cur["value"].isna().any()
    fig = anytime_figure(df, cost="fwd")
    assert fig.axes and fig.axes[0].lines  # observed points still draw a line
    line = fig.axes[0].lines[0].get_ydata()
    assert np.isfinite(np.asarray(line, dtype=float)).sum() > 10


def test_a_run_without_the_flag_reads_every_row_as_observed(tmp_path):
    exp = write_experiment(tmp_path, epochs=3, strategies=("fixed",))
    df = analysis.load_results(exp.root)
    assert df[OBSERVED_COLUMN].all()


def test_the_report_writes_with_unobserved_rows(tmp_path):
    epochs = 6
    exp = write_experiment(tmp_path, epochs=epochs, strategies=("cross_reg", "pbt"), reliability=True)
    _observe_every(exp.root, 3, epochs)
    out = analysis.write_report(exp.root, tmp_path / "report.html", cost="fwd")
    text = out.read_text()
    assert "cross_reg" in text and "<img" in text  # the table and the figures
    assert math.isfinite(analysis.summarize(analysis.load_results(exp.root), cost="fwd")
                         .set_index("strategy").loc["cross_reg", "test_acc_mean"])
