"""The README's recipe for a user's own Tuner (PB2 over train_fn with trainables.tune's
run_config) runs as written, quietly, keeps every epoch's row of every trial, and its
directory analyses like a run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _recipe() -> str:
    text = README.read_text()
    match = re.search(r"<!-- recipe:own-tuner -->\n```python\n(.*?)```", text, re.S)
    assert match, "the README lost its own-Tuner recipe"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_recipe_runs_pb2_and_keeps_every_epoch(tmp_path):
    script = tmp_path / "recipe.py"
    script.write_text(_recipe() + "\nimport json\nprint('ROWS', json.dumps("
                      "{t: sorted(set(g['epoch'])) for t, g in df.groupby('trial_id', observed=True)}))\n")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=False,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    rows = json.loads(proc.stdout.split("ROWS ", 1)[1].splitlines()[0])
    assert len(rows) == 4
    assert all(epochs == [1, 2, 3, 4] for epochs in rows.values()), rows
    # quiet: nothing from Ray, Tune or the loader but the line the script prints itself
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if not line.startswith("ROWS ")]
    assert said == [], "\n".join(said[:20])
    analyze = subprocess.run([sys.executable, "-m", "harness.cli", "analyze", "tune-results"],
                             cwd=tmp_path, check=False, capture_output=True, text=True, timeout=300)
    assert analyze.returncode == 0 and analyze.stderr == "", analyze.stderr[-2000:]
    assert "experiment tune-results" in analyze.stdout, analyze.stdout  # named, not blank
    assert any(line.split()[:1] == ["pb2"] for line in analyze.stdout.splitlines()), analyze.stdout
