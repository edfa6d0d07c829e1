"""The registry mechanics (scanning a package, resolving a reference) and two rules of the
package layout: rho names are spelled in one place, and no source file grows past 500 lines."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import trainables
from trainables.registry import is_reference, resolve, scan

PACKAGE = Path(trainables.__file__).parent


@dataclass(frozen=True)
class Entry:
    name: str


def _package(user_package, modules: dict[str, str]) -> str:
    header = f"from {__name__} import Entry\n"
    return user_package({m: header + s for m, s in modules.items()})


def test_scan_finds_single_and_tuple_declarations_and_skips_helpers(user_package) -> None:
    pkg = _package(user_package, {"one": "E = Entry('b')\n", "two": "E = (Entry('c'), Entry('a'))\n",
                                  "helper": "X = 1\n", "_private": "E = 'not scanned'\n"})
    assert list(scan(pkg, "E", Entry)) == ["a", "b", "c"]


def test_scan_refuses_a_duplicate_or_a_wrong_type(user_package) -> None:
    pkg = _package(user_package, {"one": "E = Entry('a')\n", "two": "E = Entry('a')\n"})
    with pytest.raises(ValueError, match=r"Entry 'a' is declared twice: in .*\.one and .*\.two"):
        scan(pkg, "E", Entry)
    pkg = _package(user_package, {"one": "E = 'a'\n"})
    with pytest.raises(TypeError, match=r"\.one\.E must be a Entry"):
        scan(pkg, "E", Entry)


def test_resolve(user_package) -> None:
    pkg = user_package()
    assert resolve(f"{pkg}.mod:WIDTH", ValueError) == 32
    assert resolve("trainables.registry:resolve.__name__", ValueError) == "resolve"
    assert is_reference("a.b:c") and not is_reference("mlp")
    with pytest.raises(KeyError, match="not a reference"):
        resolve("a.b:c:d", KeyError)


def _code_strings(path: Path) -> list[str]:
    """String constants of a module, docstrings left out (they may describe names)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_noise_rho_names_are_spelled_only_by_the_noise_family() -> None:
    owner = PACKAGE / "families" / "noise.py"
    assert any("sigma_" in s for s in _code_strings(owner))
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p != owner and any("sigma_" in s for s in _code_strings(p))]
    assert offenders == []


def test_no_source_file_is_over_500_lines() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > 500} == {}
