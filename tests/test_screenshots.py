"""benchmarks/screenshots.py: the reports at 1,400 px in a real headless Chromium fit the page
(nothing cut off, no sideways scroll) and the screenshots are full-page PNGs. Needs a Chromium
($CROSSREG_CHROMIUM, else /usr/bin/chromium); skipped without one."""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CROSSREG_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (set $CROSSREG_CHROMIUM)")


def _screenshots():
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "benchmarks" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_a_run_report_fits_1400_px_in_chromium(tmp_path):
    import asyncio

    from matplotlib.image import imread

    sys.path.insert(0, str(ROOT / "tests" / "analysis"))
    from fake_runs import write_experiment

    from analysis.report import write_report

    exp = write_experiment(tmp_path, seeds=(0,), strategies=("cross_reg", "fixed", "asha"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = write_report(exp.root, tmp_path / "r.html")
    shots = _screenshots()
    proc, port = shots.start_chromium(CHROMIUM, str(tmp_path / "profile"))
    try:
        m = asyncio.run(shots.shoot(port, page, tmp_path / "r.png", 1400))
    finally:
        proc.kill()
    assert m["scroll"] <= m["client"] == 1400, m  # nothing cut off, no sideways scroll
    assert max(m["images"]) <= 1400
    img = imread(tmp_path / "r.png")
    assert img.shape[1] == 1400 and img.shape[0] == m["height"] > 900  # the whole page
