"""Rules of the repository itself: files with one job stay small, the documents cited exist,
the contract's names live once, and the linters pass."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
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
    code = ("import sys; import harness.run.runner, harness.strategies, trainables.tune; "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=120)
    assert proc.stdout.strip() == "[]"


NOT_YET: tuple[str, ...] = ()  # every file takes its column names from analysis.contract
#: Dicts that are no report row but name a quantity as the row's column does, by file: a
#: split's description (`Splits.info`: its sizes, the dataset's class count) and the linear
#: estimators' comparison dicts (their sample-forward passes, read by benchmarks/bench_linear.py).
NOT_ROWS = {
    "trainables/datasets/splitting.py": {"n_reg", "n_test", "n_classes"},
    "trainables/datasets/reference.py": {"n_classes"},
    "trainables/datasets/synthetic.py": {"n_classes"},
    "trainables/linear_demo.py": {"fwd_train", "fwd_reg"},
}
#: Functions whose string keys are a checkpoint's, not a row's (`Trial.state_dict`'s ``epoch``
#: and ``diverged``; the synthetic trainable's ``state.json``): renaming them would orphan every
#: checkpoint written so far, and the row's constants are not their names.
CHECKPOINT_FUNCTIONS = {"state_dict", "load_state_dict"}
#: The modules that build a report row, or its counters: they spell no column at all, not even
#: the names a config field shares (below).
ROW_WRITERS = {"trainables/trial.py", "trainables/member.py", "trainables/engine.py",
               "trainables/joint.py", "trainables/tune.py"}


def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant of a module with its line, f-string parts included; docstrings
    (and any other bare string statement) and the bodies of `CHECKPOINT_FUNCTIONS` left out."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in CHECKPOINT_FUNCTIONS:
            return
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_trainables_and_harness_spell_no_result_column():
    """Result-row column names live once, in analysis/contract.py: trainables/ writes a row and
    harness/ reads one through the contract's constants, never a quoted name (issue 23 item 8).

    Checked, as string constants of the parsed source (comments and docstrings do not count):
    every fixed-name column of a report row (`contract.ROW_COLUMNS`: "test_acc", "fwd_train",
    "val_acc", "flops_train", ...), Ray Tune's "training_iteration" (the schedulers' time_attr,
    which the harness reads back), and any string that starts with a column prefix, "rho/" or
    "rel/" (f-string parts included: f"rho/{name}").

    Names a `TrialConfig` field shares with a column are checked in the row writers only
    (`ROW_WRITERS`). They are the row's labels, "experiment", "strategy", "seed" and "role",
    which the row copies from the config fields of the same names, and "n_train", the config's
    training-pool size, which is not what the row's "n_train" (the training split's size)
    means. Elsewhere they are config fields, as every other field is: the trials a strategy
    builds ({"role": "fold", ...}), `PER_TRIAL_FIELDS` and other field lists, a config's
    `.get("seed")`; a syntax check cannot tell such a key from a row's column, and a config
    dict is no result row. Where the row is built they are written through the contract's
    constants (`ROW_LABEL_COLUMNS`, `N_TRAIN`), and the first assertion fails when a new field
    takes a column's name, so that it is decided here rather than passed over.

    Not checked: the loaded frame's own labels ("run", "task", "dataset", "trial_id", "status",
    "iteration"), which no trial writes and which are also metadata and spec keys; dicts that
    merely share a name (`NOT_ROWS`); checkpoints (`CHECKPOINT_FUNCTIONS`).
    """
    from dataclasses import fields

    from analysis import contract
    from trainables.config import TrialConfig

    shared = set(contract.ROW_COLUMNS) & {f.name for f in fields(TrialConfig)}
    assert shared == {"experiment", "strategy", "seed", "role", "n_train"}, shared
    assert set(contract.ROW_LABEL_COLUMNS) < shared
    columns = (set(contract.ROW_COLUMNS) | {contract.TRAINING_ITERATION}) - shared
    prefixes = (contract.RHO_PREFIX, contract.RELIABILITY_PREFIX)
    spelled = []
    for pkg in ("trainables", "harness"):
        for p in sorted((ROOT / pkg).rglob("*.py")):
            rel = p.relative_to(ROOT).as_posix()
            if rel in NOT_YET:
                continue
            checked = (columns | shared if rel in ROW_WRITERS else columns) - NOT_ROWS.get(rel, set())
            for line, value in _string_literals(ast.parse(p.read_text(), filename=rel)):
                if value in checked or value.startswith(prefixes):
                    spelled.append(f"{rel}:{line}: {value!r}")
    assert not spelled, "spelled out; use the analysis.contract constants:\n" + "\n".join(spelled)


def test_the_exceptions_to_the_column_check_still_exist():
    """A file renamed or moved would silently leave the check's exceptions behind."""
    named = [*NOT_YET, *NOT_ROWS, *ROW_WRITERS]
    assert [f for f in named if not (ROOT / f).is_file()] == []


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import a module runs, at its top or inside a function; not `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def _import_graph() -> dict[str, set[str]]:
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        graph[module] = set()
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[module] |= {a.name for a in node.names if a.name in files}
                continue
            base = ".".join([*here[:len(here) - node.level + 1], *([node.module] if node.module else [])]) \
                if node.level else node.module or ""
            graph[module] |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                              for a in node.names} & set(files)
        graph[module].discard(module)
    return graph


def test_no_import_cycle_even_through_a_lazy_import():
    """A cycle closed by an import inside a function still ties the modules together (the
    config, the families and the regularizers once were): a module may import another only
    if that one does not, however late, import it back."""
    graph, state, cycles = _import_graph(), {}, []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                cycles.append([*path[path.index(other):], other])
            elif other not in state:
                visit(other, [*path, other])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
