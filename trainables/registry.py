"""The mechanics shared by the three registries (families, models, datasets).

Each registry is a package whose entries are files: a module declares its entry as a
module-level constant (``FAMILY``, ``MODEL`` or ``DATASETS``) and `scan` finds it by walking
the package with `pkgutil`, so adding an entry is one new file and no list anywhere names it.
Modules that declare nothing are helpers and are skipped; a declaration of the wrong type
or a name declared twice stops the import with the file named.

Users bring their own entry without editing the package: a ``"pkg.module:attr"`` string in
place of a registered name is resolved by `resolve` (importing the module is all it takes).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, Protocol, TypeVar


class Named(Protocol):
    """A registry entry: anything with a name."""

    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=Named)


def scan(package: str, attribute: str, kind: type[E]) -> dict[str, E]:
    """``name -> declaration`` for every module of ``package`` that declares ``attribute``.

    ``attribute`` holds one ``kind`` instance or a tuple of them; each must have a ``name``.
    Modules whose name starts with ``_`` are private and not scanned.
    """
    pkg = importlib.import_module(package)
    found: dict[str, E] = {}
    where: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        declared = getattr(module, attribute, None)
        if declared is None:
            continue
        for entry in declared if isinstance(declared, tuple) else (declared,):
            if not isinstance(entry, kind):
                raise TypeError(f"{module.__name__}.{attribute} must be a {kind.__name__} "
                                f"(or a tuple of them), got {type(entry).__name__}")
            if entry.name in found:
                raise ValueError(f"{kind.__name__} {entry.name!r} is declared twice: in "
                                 f"{where[entry.name]} and {module.__name__}")
            found[entry.name] = entry
            where[entry.name] = module.__name__
    return dict(sorted(found.items()))


def is_reference(name: str) -> bool:
    """Whether ``name`` is a ``"pkg.module:attr"`` reference rather than a registered name."""
    return ":" in name


def resolve(reference: str, error: Callable[[str], Exception]) -> Any:
    """The object ``attr`` of module ``pkg.module`` named by ``"pkg.module:attr"``.

    Every failure is one ``error(message)`` (the caller's exception type, prefixed with the
    config key it came from) saying which part is wrong: a malformed reference, a
    module that is not on ``sys.path``, a module whose import raised, a missing attribute.
    ``attr`` may be dotted (``"pkg.module:Class.method"``).
    """
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr or ":" in attr:
        raise error(f"{reference!r} is not a reference of the form 'pkg.module:attr'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise error(f"module {module_name!r} not found: put the folder that contains it on "
                        f"sys.path (PYTHONPATH) of every process that runs trials") from exc
        raise error(f"importing module {module_name!r} failed: {exc}") from exc
    except Exception as exc:  # the user's module is broken: say so in one line, keep the cause
        raise error(f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    value: Any = module
    for part in attr.split("."):
        if not hasattr(value, part):
            raise error(f"module {module_name!r} has no attribute {attr!r}")
        value = getattr(value, part)
    return value


__all__ = ["Named", "is_reference", "resolve", "scan"]
