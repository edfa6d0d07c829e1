"""The comparison table fits a 100-column terminal by default; `wide` shows every column, and
the legend under either explains only the columns shown."""

from __future__ import annotations

import pytest
from fake_runs import write_experiment

from analysis.results import load_results
from analysis.summary import display_table, format_table, summarize
from analysis.summary.display import COLUMN_NOTES, NARROW_COLUMNS, TABLE_NOTE, table_note


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    exp = write_experiment(tmp_path_factory.mktemp("width"), seeds=(0, 1, 2),
                           strategies=("cross_reg", "fixed", "pbt", "grid_cv", "asha"))
    return summarize(load_results(exp.root), cost="fwd")


def _header(text: str) -> str:
    return text.splitlines()[1]


def test_the_narrow_table_fits_100_columns(summary):
    text = format_table(summary, wide=False)
    assert max(len(line) for line in text.splitlines()) <= 100, text
    header = _header(text).split()
    for column in ("strategy", "seeds", "n", "train", "test", "acc", "ECE", "status", "x",
                   "cross_reg", "(fwd)"):
        assert column in header, header
    assert "fwd total" in _header(text)  # the total on the table's axis, beside its ratio
    for strategy in ("cross_reg", "fixed", "pbt", "grid_cv", "asha"):
        assert any(line.lstrip().startswith(strategy) for line in text.splitlines())


def test_wide_shows_every_column_as_before(summary):
    wide = format_table(summary, wide=True)
    assert format_table(summary) == wide  # the library's default is unchanged
    for column in display_table(summary).columns.drop(["experiment", "dataset"]):
        assert column in _header(wide), column
    narrow_header = _header(format_table(summary, wide=False))
    for column in ("acc IQM %", "NLL", "rank", "trials", "wall s", "trial s"):
        assert column in _header(wide) and column not in narrow_header


def test_the_legend_names_only_the_columns_shown(summary):
    narrow = format_table(summary, wide=False)
    legend = " ".join(narrow.split("\n")[7:])
    assert "n train:" in legend and "fwd = sample-forward passes" in legend
    for gone in ("IQM:", "rank:", "reruns:", "wall s:", "trial s =", "FLOPs =", "device s ="):
        assert gone not in legend, gone
    # no rerun in this run: the wide table has no reruns column, and its legend none either
    wide = format_table(summary, wide=True)
    assert "reruns" not in _header(wide) and "reruns:" not in wide
    assert "rank:" in wide and "trial s =" in wide


def test_every_column_that_needs_words_has_them():
    for key in COLUMN_NOTES:
        assert COLUMN_NOTES[key] in TABLE_NOTE  # the report's legend: every column
    assert table_note(["strategy", "status"]).count(";") == 0  # the interval note alone
    assert "x REF" in table_note(["x cross_reg (FLOPs)"])
    assert set(NARROW_COLUMNS) >= {"strategy", "seeds", "n train", "status"}
