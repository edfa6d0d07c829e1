"""analysis runs on a laptop with the result files only: no Ray, no torch, nothing of ours."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import analysis.metrics
light = not any(m in sys.modules for m in ("pandas", "scipy", "matplotlib"))
import analysis
from analysis import contract, plots, report, results, suite_report, summary
from analysis.summary import format_table  # the CLI's import path
[getattr(analysis, name) for name in analysis.__all__]
assert analysis.ResultsError is results.ResultsError and issubclass(analysis.ResultsError, ValueError)
assert analysis.final_trial is contract.final_trial
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("ray", "torch", "trainables", "harness"))
print(light, heavy)
"""


def test_analysis_imports_no_ray_torch_or_siblings():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True).stdout
    # metrics (imported by the trainables) stays numpy-only; nothing pulls in Ray, torch or our packages
    assert out.strip() == "True []"
