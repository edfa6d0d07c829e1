"""Plots and the HTML report: headless, self-contained, graceful on partial results."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from fake_runs import write_experiment
from matplotlib.figure import Figure

from analysis import plots
from analysis.report import write_report
from analysis.results import ResultsWarning, load_results

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    exp = write_experiment(root, seeds=(0, 1), reliability=True, pbt_clone=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = write_report(exp.root, root / "out" / "report.html")
    return exp, out


def test_figures_are_figures_and_pyplot_stays_unused(shared_experiment):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        df = load_results(shared_experiment.root)
    figs = plots.all_figures(df, cost="fwd")  # the fake runs record no FLOPs
    assert list(figs) == ["Anytime quality", "Accuracy vs cost", "Reliability diagrams", "Rho trajectories"]
    for fig in figs.values():
        assert isinstance(fig, Figure) and fig.axes
    assert len(figs["Reliability diagrams"].axes) == 4  # one panel per strategy
    assert "matplotlib.pyplot" not in sys.modules or not __import__("matplotlib.pyplot").pyplot.get_fignums()


def test_reliability_table_pools_seeds(shared_experiment):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        df = load_results(shared_experiment.root)
    t = plots.reliability_table(df)
    cr = t[t["strategy"] == "cross_reg"].set_index("bin")
    # builder: bins 10..14 hold 5, 10, 20, 40, 100 + last epoch samples per seed
    n = len(shared_experiment.seeds)
    np.testing.assert_allclose(cr.loc[10:14, "count"], np.array([5, 10, 20, 40, 106]) * n)
    assert cr.loc[:9, "count"].eq(0).all() and cr.loc[:9, "accuracy"].isna().all()
    np.testing.assert_allclose(cr.loc[14, "confidence"], 14.5 / 15)


def test_plots_skip_with_a_note_when_columns_are_absent(experiment):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        df = load_results(experiment.root)
    df = df[[c for c in df.columns if not c.startswith("rho/")]]
    rel, rho = plots.reliability_figure(df), plots.rho_figure(df)
    assert not rel.axes and "skipped" in rel.texts[0].get_text()
    assert not rho.axes and "rho/*" in rho.texts[0].get_text()


def test_report_is_self_contained(report):
    exp, out = report
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    # no external asset: every src/href is a data URI
    refs = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs)
    assert "<script" not in text and "http://" not in text and "https://" not in text
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(imgs) == 4
    for b64 in imgs:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    for strategy in exp.strategies:
        assert f"<td>{strategy}</td>" in text
    assert 'class="badge finished"' in text and "git_commit" in text and "abc1234" in text
    assert "repeated (trial, iteration)" not in text  # a PBT clone's repeats are normal


def test_report_flags_unfinished_runs_and_survives_damage(tmp_path):
    exp = write_experiment(tmp_path, seeds=(0,), strategies=("cross_reg", "asha"), status="interrupted")
    next(exp.root.glob("asha-seed0/*/result.json")).write_text('{"epoch": 1, "trial_')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = write_report(exp.root, tmp_path / "r.html")
    text = out.read_text()
    assert 'class="badge interrupted"' in text and "not finished" in text
    assert "half-written last line" in text and "<td>asha</td>" in text


def _chromium(args: list[str], timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--no-first-run", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    from matplotlib.image import imread

    _, out = report
    shot = tmp_path / "shot.png"
    r = _chromium([f"--user-data-dir={tmp_path / 'ud'}", f"--screenshot={shot}", "--window-size=1200,3000",
                   out.resolve().as_uri()])
    assert shot.exists(), r.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a blank 1200x3000 page compresses to a few kB
    img = imread(shot)
    assert img.shape[:2] == (3000, 1200)
    rgb = img[..., :3]
    assert rgb.std() > 0.05  # not a blank page
    # the plots are in colour: the strategies' hues show up (a blank or text-only page has none)
    sat = rgb.max(axis=-1) - rgb.min(axis=-1)
    assert (sat > 0.3).mean() > 0.005


def test_report_warns_on_mixed_commits_and_prints_protocol_and_search_spaces(tmp_path):
    import json

    from fake_runs import edit_metadata
    a = write_experiment(tmp_path / "a", name="run-a", strategies=("cross_reg", "fixed"), seeds=(0, 1))
    b = write_experiment(tmp_path / "a", name="run-b", strategies=("cross_reg", "fixed"), seeds=(2, 3))
    spec = json.loads((a.root / "metadata.json").read_text())["spec"]
    edit_metadata(a.root, spec={**spec, "protocol": "equal_rows"},
                  search_spaces={"grid_cv": "sigma shared by both layers, log grid of 5 in [0.01, 3]",
                                 "random": "sigma per layer, log-uniform in [0.01, 3]"})
    edit_metadata(b.root, git_commit="0123456789abcdef0123456789abcdef01234567")
    with pytest.warns(ResultsWarning, match="different commits"):
        text = write_report([a.root, b.root], tmp_path / "mixed.html", cost="fwd").read_text()
    assert "Mixed commits" in text and "abc1234" in text and "0123456789ab" in text
    assert "<b>equal_rows</b>" in text and "not recorded" in text  # run-b predates the protocol
    assert "declared search spaces" in text and "sigma per layer, log-uniform in [0.01, 3]" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)  # one commit: no warning
        warnings.filterwarnings("ignore", category=ResultsWarning, message="(?!.*different commits)")
        one = write_report(a.root, tmp_path / "one.html", cost="fwd").read_text()
    assert "Mixed commits" not in one


def test_report_on_a_run_without_flops_says_how_to_price_it(tmp_path):
    exp = write_experiment(tmp_path, strategies=("cross_reg", "fixed"), seeds=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = write_report(exp.root, tmp_path / "r.html").read_text()
    assert "did not record them" in text and "cost=&#x27;fwd&#x27;" in text


def test_one_seed_leaves_out_the_tests_over_seeds(tmp_path):
    """One seed: a paired test over seeds has one pair (p = 1 every row): not shown, said why."""
    exp = write_experiment(tmp_path, seeds=(0,), strategies=("cross_reg", "fixed", "asha"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = write_report(exp.root, tmp_path / "one.html").read_text()
    section = text.split("Paired comparisons", 1)[1].split("<h2>", 1)[0]
    assert "<td>fixed</td>" in section and "mean_diff" in section
    assert "wilcoxon_p</th>" not in section and "ttest_p</th>" not in section
    assert "One seed: the interval and the tests over seeds are left out" in section


def test_every_table_scrolls_in_its_own_box(report):
    """At 1,400 px a wide table (compute to quality, paired comparisons) scrolls inside its
    box instead of the page scrolling sideways (checked in a browser: tests/test_screenshots.py)."""
    _, out = report
    text = out.read_text()
    assert text.count("<table") >= 3
    assert text.count("<table") == text.count('<div class="scroll"><table')


def test_an_interval_withheld_in_every_row_is_said_once(report):
    """Two seeds: the bootstrap interval is withheld in every row; a note says so once
    instead of a column of the same sentence."""
    _, out = report
    section = out.read_text().split("Paired comparisons", 1)[1].split("<h2>", 1)[0]
    assert "<th>ci_method</th>" not in section and "<th>ci_low</th>" not in section
    assert "The interval over seeds is withheld in every row: 2 pairs" in section
    assert "ttest_p</th>" in section  # the tests over seeds stay
