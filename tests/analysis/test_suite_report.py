"""The suite report: one HTML page for a suite directory, built from fake task runs (no Ray)."""

from __future__ import annotations

import json
import re
import struct
import warnings
from base64 import b64decode
from pathlib import Path
from urllib.parse import unquote

import pytest
from fake_runs import rewrite_rows, write_experiment

from analysis.suite_report import PAGE_PX, is_suite, write_suite_report

STRATEGIES = ("cross_reg", "fixed", "pbt")
TASKS = ("mnist1d", "digits", "mnist1d-small")


def write_suite(root: Path, *, tasks=TASKS, seeds=(0, 1), flops: bool = True) -> Path:
    """A suite directory as `crossreg suite` leaves it: suite.json and one run per task, each
    with FLOPs on its rows (3 per forward pass) unless ``flops`` is False."""
    root.mkdir(parents=True)
    base = {"cross_reg": 0.8, "fixed": 0.7, "pbt": 0.75}
    for i, task in enumerate(tasks):
        write_experiment(root, name=f"{task}-20261125", experiment=task, seeds=seeds, strategies=STRATEGIES,
                         epochs=4, completed=True, quality={k: v + 0.02 * i for k, v in base.items()})
    if flops:
        for path in root.glob("*/*-seed*/*/result.json"):
            rewrite_rows(path, lambda rows: [r.update({f"flops_{k}": 3.0 * r[f"fwd_{k}"]
                                                       for k in ("train", "reg", "eval", "test")}) for r in rows])
    (root / "suite.json").write_text(json.dumps({
        "name": "small", "strategies": list(STRATEGIES), "seeds": len(seeds), "status": "finished",
        "commit": "abc1234", "tasks": [{"name": t, "spec": {"name": t}} for t in tasks]}))
    return root


def _write(root: Path, **kw) -> tuple[Path, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = write_suite_report(root, **kw)
    return out, out.read_text()


def _section(text: str, heading: str) -> str:
    """The page from ``heading``'s <h2> to the next one."""
    start = text.index(f"<h2>{heading}")
    end = text.find("<h2>", start + 4)
    return text[start:end if end > 0 else None]


def _png_width(b64: str) -> int:
    raw = b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", raw[16:20])[0]  # IHDR's width


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> tuple[Path, Path, str]:
    root = write_suite(tmp_path_factory.mktemp("suite") / "small-20261125")
    out, text = _write(root)
    return root, out, text


def test_the_page_holds_the_cd_diagram_the_across_table_and_the_ranks(suite):
    root, out, text = suite
    assert is_suite(root) and out == root / "report.html"
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>") and "<script" not in text
    assert 'alt="critical-difference diagram" src="data:image/png;base64,' in text
    assert "Friedman p = " in text and "Nemenyi CD = " in text
    across = _section(text, "Across tasks")
    body = across[across.index("<tbody>"):across.index("</tbody>")]
    assert sorted(re.findall(r"<tr>\s*<td>([^<]+)</td>", body)) == sorted(STRATEGIES)  # one row per strategy
    assert "mean rank" in across and "score IQM" in across and "W/T/L vs cross_reg" in across
    assert 'alt="anytime ranks" src="data:image/png;base64,' in text
    assert "Not shown" not in text and "Not drawn" not in text


def test_one_accuracy_vs_flops_panel_per_task(suite):
    from analysis import plots
    from analysis.results import load_results
    from analysis.suite_report import _grid_figure

    _, _, text = suite
    assert "<h2>Accuracy vs FLOPs, per task</h2>" in text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load_results(suite[0])
    fig = _grid_figure(df, "flops", list(TASKS))
    assert [ax.get_title() for ax in fig.axes] == list(TASKS)
    for ax in fig.axes:  # each panel holds its task's three strategies, log cost on x
        assert ax.get_xscale() == "log" and len(ax.containers) == len(STRATEGIES)
    assert set(STRATEGIES) <= {t.get_text() for t in fig.legends[0].get_texts()}  # one legend, no ratios
    assert plots.pareto_figure(df, cost="flops").axes  # the run report's figure is unchanged


def test_a_regression_task_has_a_test_loss_panel_with_the_front_lower_is_better(tmp_path):
    """A task without accuracies (a regression) is drawn on its test loss, not left blank, and
    its Pareto front joins the points no cheaper point beats on a *lower* loss. Costs rise
    fixed < pbt < cross_reg while the loss falls, so all three are on that front; taken
    higher-is-better, only `fixed` would be (one point: no line)."""
    from analysis.results import load_results
    from analysis.suite_report import _grid_figure

    root = write_suite(tmp_path / "s", tasks=TASKS[:2])
    factor = {"fixed": 1.0, "pbt": 2.0, "cross_reg": 3.0}
    for path in root.glob(f"{TASKS[1]}-*/*-seed*/*/result.json"):  # the second task: a regression
        k = factor[path.parent.parent.name.split("-seed")[0]]
        rewrite_rows(path, lambda rows, k=k: [r.update({c: v * k for c, v in r.items() if c.startswith("flops_")},
                                                       test_acc=None, val_acc=None, train_acc=None) for r in rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load_results(root)
    classification, regression = _grid_figure(df, "flops", list(TASKS[:2])).axes
    assert classification.get_ylabel() == "final test accuracy (%)"
    assert regression.get_ylabel() == "final test_loss" and len(regression.containers) == len(STRATEGIES)
    final = df[df["final_epoch"] & (df["task"] == TASKS[1])].groupby("strategy", observed=True)["test_loss"].mean()
    assert final["fixed"] > final["pbt"] > final["cross_reg"]  # the fake runs' qualities
    (front,) = [line for line in regression.get_lines() if line.get_label() == "Pareto front"]
    assert list(front.get_ydata()) == pytest.approx([final[s] for s in sorted(factor, key=factor.get)])


def test_every_task_report_is_written_and_linked_relatively(suite, tmp_path):
    root, out, text = suite
    tasks = _section(text, "Tasks")
    hrefs = re.findall(r'href="([^"]+)"', text)
    assert len(hrefs) == len(TASKS)
    for task in TASKS:
        assert f"<td>{task}</td>" in tasks
    for href in hrefs:
        assert not href.startswith(("/", "file:", "http")) and href.endswith("/report.html")
        target = out.parent / unquote(href)
        assert target.is_file() and target.parent.parent == root
        assert "crossreg task" in target.read_text()  # the task's own run report
    assert tasks.count('class="badge finished"') == len(TASKS)
    _, elsewhere = _write(root, out_html=tmp_path / "elsewhere" / "page.html", task_reports=False)
    links = re.findall(r'href="([^"]+)"', elsewhere)  # relative to where the page is
    assert len(links) == len(TASKS) and all((tmp_path / "elsewhere" / unquote(h)).is_file() for h in links)


def test_tables_scroll_in_their_box_and_figures_fit_the_page(suite):
    _, _, text = suite
    assert f"max-width:{PAGE_PX}px" in text and ".scroll{overflow-x:auto" in text
    tables = text.count("<table")
    assert tables == text.count('<div class="scroll"><table') and tables >= 3
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 3
    assert all(_png_width(b) <= PAGE_PX for b in images)


def test_a_one_seed_suite_says_so_instead_of_printing_intervals_and_tests(tmp_path):
    _, text = _write(write_suite(tmp_path / "s", seeds=(0,)), task_reports=False)
    assert "one seed per task: no score interval" in text
    across = _section(text, "Across tasks")
    assert "W/T/L" not in across and "score IQM" not in across and "withheld" not in across
    assert "one seed: no sd" in text and "one seed, so no interval" in text
    assert "critical-difference diagram" in text  # three tasks still rank across tasks


def test_a_one_task_suite_draws_no_cd_diagram(tmp_path):
    _, text = _write(write_suite(tmp_path / "s", tasks=("mnist1d",)), task_reports=False)
    assert "Not drawn: one task" in text and 'alt="critical-difference diagram"' not in text
    across = _section(text, "Across tasks")
    assert "Friedman p =" not in across and "Nemenyi CD =" not in across and "<th>task rank</th>" not in across
    assert "one task: no Friedman test" in across and "<td>cross_reg</td>" in across
    assert "Score intervals withheld" in across  # one task x two seeds: two scores, too few to resample


def test_without_flops_the_page_says_how_to_price_it(tmp_path):
    root = write_suite(tmp_path / "s", tasks=TASKS[:2], flops=False)
    _, text = _write(root, task_reports=False)
    assert "cost=&#x27;fwd&#x27;" in text and "href=" not in text
    _, fwd = _write(root, cost="fwd", out_html=tmp_path / "fwd.html", task_reports=False)
    assert 'alt="anytime ranks"' in fwd and "<h2>Accuracy vs fwd, per task</h2>" in fwd
    assert "cost=&#x27;fwd&#x27;" not in fwd


def test_crossreg_report_of_a_suite_directory_writes_the_suite_page(tmp_path, capsys):
    from harness.cli.commands import main

    root = write_suite(tmp_path / "s", tasks=TASKS[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["report", str(root)]) == 0
    out = root / "report.html"
    assert capsys.readouterr().out.strip() == f"report: {out}"
    text = out.read_text()
    assert "crossreg suite: small" in text and 'alt="critical-difference diagram"' in text
    assert all((root / f"{t}-20261125" / "report.html").is_file() for t in TASKS[:2])
    assert main(["report", str(root), str(root / "mnist1d-20261125")]) == 2  # a suite goes alone
    assert "give it alone" in capsys.readouterr().err


def test_a_task_that_never_started_is_listed_and_the_page_says_it_is_partial(tmp_path):
    root = write_suite(tmp_path / "s", tasks=TASKS[:2])
    record = json.loads((root / "suite.json").read_text())
    record["tasks"].append({"name": "svhn", "spec": {"name": "svhn"}})
    (root / "suite.json").write_text(json.dumps({**record, "status": "interrupted"}))
    _, text = _write(root, task_reports=False)
    tasks = _section(text, "Tasks")
    assert [t for t in re.findall(r"<tr>\s*<td>([^<]+)</td>", tasks)] == [*TASKS[:2], "svhn"]  # suite.json's order
    assert "not started" in tasks and "are partial" in tasks and "suite status interrupted" in text


def test_a_suite_without_accuracy_ranks_on_the_test_loss_and_its_task_reports_render(tmp_path):
    root = write_suite(tmp_path / "s", tasks=TASKS[:2])
    for path in root.glob("*/*-seed*/*/result.json"):  # as a regression task reports: no accuracies
        rewrite_rows(path, lambda rows: [r.update(test_acc=None, val_acc=None, train_acc=None) for r in rows])
    _, text = _write(root)
    assert "<h2>Per task: final test_loss</h2>" in text and "(lower is better)" in text
    assert "not written" not in text  # each run report draws its anytime panel as a note, no line
    assert all((root / f"{t}-20261125" / "report.html").is_file() for t in TASKS[:2])
