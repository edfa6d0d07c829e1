"""analysis runs on a laptop with the result files only: no Ray, no torch, nothing of ours."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import analysis.metrics
light = not any(m in sys.modules for m in ("pandas", "scipy", "matplotlib"))
import analysis
from analysis import plots, report, results, summary
analysis.load_results, analysis.summarize, analysis.write_report, analysis.format_table
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("ray", "torch", "trainables", "harness"))
print(light, heavy)
"""


def test_analysis_imports_no_ray_torch_or_siblings():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True).stdout
    # metrics (imported by the trainables) stays numpy-only; nothing pulls in Ray, torch or our packages
    assert out.strip() == "True []"
