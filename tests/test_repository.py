"""Rules of the repository itself: files with one job stay small, the documents cited exist,
the contract's names live once, and the linters pass."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trainables", "harness", "analysis")
TEXT = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".toml", ".yaml", ".slurm"}
        and not any(part in {".venv", ".git", "build", "dist"} or part.endswith(".egg-info")
                    for part in p.relative_to(ROOT).parts)]


def test_no_source_file_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert not long, long


def test_every_cited_document_exists():
    """docs/design.md is the project's design; nothing cites a file the repository lacks."""
    cited = re.compile(r"\b((?:docs/)?[\w.-]+\.md)\b")
    missing = set()
    for p in TEXT:
        for name in cited.findall(p.read_text(errors="replace")):
            candidates = [ROOT / name, ROOT / "docs" / name, p.parent / name]
            if not any(c.exists() for c in candidates):
                missing.add(f"{p.relative_to(ROOT)} cites {name}")
    assert not missing, sorted(missing)


def test_the_cost_columns_and_the_final_model_rule_live_once():
    """Only analysis/contract.py spells out the cost-column tuple and the refit-first rule."""
    cost_tuple = re.compile(r'\(\s*"fwd_train",\s*"fwd_reg",\s*"fwd_eval"\s*\)')
    refit_rule = re.compile(r'role["\')\]]*\s*==\s*["\']refit')
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            if p.name == "contract.py":
                continue
            text = p.read_text()
            assert not cost_tuple.search(text), f"{p} restates the cost columns"
            assert not refit_rule.search(text), f"{p} restates the final-model rule"


@pytest.mark.slow
def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed (it is in the test extra)")
    proc = subprocess.run([ruff, "check", *PACKAGES, "tests", "benchmarks"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.slow
def test_mypy_is_clean():
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_test_modules_have_unique_names():
    """pytest imports test modules by basename (rootdir, no packages): a duplicate stops the run."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)


def test_the_slowest_first_modules_exist():
    """A renamed module would silently lose its early place in the run (tests/conftest.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("suite_conftest", ROOT / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)  # by path: every test folder has a `conftest`
    assert [m for m in conftest.SLOWEST_FIRST if not (ROOT / m).is_file()] == []


def test_a_tuners_driver_imports_neither_torch_nor_scikit_learn():
    """Every (strategy, seed) Tuner runs in a driver process that imports these modules; torch
    and scikit-learn (through Ray's PB2) cost it ~2.6 s of CPU each time, for nothing."""
    code = ("import sys; import harness.runner, harness.strategies, trainables.tune; "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=120)
    assert proc.stdout.strip() == "[]"
