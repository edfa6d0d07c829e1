"""A run's metadata.json as the table reads it after a resume or a fault (issue 20, items 1
and 7): an unreadable one never splits a strategy into two rows (the run is read with
status unknown, its rows labelled as the rows say), and a resume that may have decided
otherwise shows in the status."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from fake_runs import edit_metadata, write_experiment

from analysis import summarize
from analysis.contract import RESUMED_INEXACT_KEY
from analysis.results import ResultsWarning, load_results

STRATEGIES = ("cross_reg", "fixed")


def _load(root: Path) -> tuple[pd.DataFrame, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(root)
        summary = summarize(df, cost="fwd")
    return summary, [str(w.message) for w in caught if issubclass(w.category, ResultsWarning)]


def _without_rows(run: Path, unit: str) -> None:
    """The (strategy, seed) folder of a unit that never reported (a placeholder row)."""
    shutil.rmtree(run / unit)
    (run / unit).mkdir()


@pytest.mark.parametrize("damage", ["{garbage", "[1, 2]", ""], ids=["cut", "not-an-object", "empty"])
def test_an_unreadable_metadata_beside_a_good_run_keeps_one_row_per_strategy(tmp_path, damage):
    write_experiment(tmp_path, name="quick-20260101-120000-000", seeds=(0,), strategies=STRATEGIES,
                     completed=True)
    bad = write_experiment(tmp_path, name="quick-20260102-120000-000", seeds=(1,),
                           strategies=STRATEGIES, completed=True)
    (bad.root / "metadata.json").write_text(damage)
    _without_rows(bad.root, "fixed-seed1")  # its labels can come from nowhere but the run
    summary, said = _load(tmp_path)
    assert sorted(summary["strategy"]) == sorted(STRATEGIES), summary[["experiment", "strategy"]]
    assert set(summary["experiment"]) == {"quick"} and set(summary["dataset"]) == {"mnist1d"}
    assert (summary["n_seeds"] == 2).all()
    assert set(summary["status"]) == {"unknown (1 of 2 seeds)"}
    assert any("quick-20260102-120000-000: metadata.json" in m and "status unknown" in m for m in said), said


def test_a_run_with_damaged_metadata_and_no_rows_is_labelled_by_its_folder(tmp_path):
    """Nothing but placeholders: the experiment is the run folder's name without the
    harness's timestamp, the label a run of the same experiment carries."""
    write_experiment(tmp_path, name="quick-20260101-120000-000", seeds=(0,), strategies=STRATEGIES,
                     completed=True)
    bad = write_experiment(tmp_path, name="quick-20260102-120000-000", seeds=(1,),
                           strategies=STRATEGIES, completed=True)
    (bad.root / "metadata.json").write_text("{")
    for unit in ("cross_reg-seed1", "fixed-seed1"):
        _without_rows(bad.root, unit)
    summary, _ = _load(tmp_path)
    assert set(summary["experiment"]) == {"quick"}
    assert sorted(summary["strategy"]) == sorted(STRATEGIES)


def test_a_resumed_seed_whose_decisions_may_differ_shows_in_the_status(tmp_path):
    exp = write_experiment(tmp_path, seeds=(0, 1), strategies=STRATEGIES, completed=True)
    edit_metadata(exp.root, **{RESUMED_INEXACT_KEY: {"fixed-seed1": "its decisions may differ"}})
    summary, _ = _load(tmp_path)
    status = summary.set_index("strategy")["status"]
    assert status["fixed"] == "resumed: decisions may differ (1 of 2 seeds)"
    assert status["cross_reg"] == "finished"


def test_a_malformed_resume_record_flags_nothing(tmp_path):
    exp = write_experiment(tmp_path, seeds=(0,), strategies=STRATEGIES, completed=True)
    edit_metadata(exp.root, **{RESUMED_INEXACT_KEY: ["fixed-seed0"]})
    summary, _ = _load(tmp_path)
    assert set(summary["status"]) == {"finished"}
