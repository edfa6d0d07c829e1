"""Finding runs and their files, on a local disk or an object store, through pyarrow's filesystems.

One recursive listing per root (cheap on object stores, where each listing call is a
round trip); everything after works on that list of paths.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections import defaultdict
from typing import Union

import pyarrow.fs as pafs

from .errors import ResultsError

PathLike = Union[str, "os.PathLike[str]"]

#: ``<strategy>-seed<k>``: one Tune experiment (strategy, seed) of a run.
STRATEGY_DIR = re.compile(r"^(?P<strategy>.+)-seed(?P<seed>\d+)$")
METADATA = "metadata.json"
RESULT = "result.json"


def resolve(path: PathLike) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path inside it, display name) for a local path or a URI."""
    s = os.fspath(path)
    if "://" not in s:
        s = os.path.abspath(os.path.expanduser(s))
    fs, inner = pafs.FileSystem.from_uri(s)
    inner = inner.rstrip("/") or "/"
    return fs, inner, posixpath.basename(inner) or inner


def list_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """All paths under ``root``: files as they are, folders with a trailing ``/`` (an empty
    strategy folder must still be seen)."""
    sel = pafs.FileSelector(root, recursive=True, allow_not_found=False)
    return [i.path if i.type == pafs.FileType.File else i.path.rstrip("/") + "/"
            for i in fs.get_file_info(sel)
            if i.type in (pafs.FileType.File, pafs.FileType.Directory)]


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as f:
        return f.read()


def read_text(fs: pafs.FileSystem, path: str) -> str:
    return read_bytes(fs, path).decode("utf-8", errors="replace")


def _is_run(names: set[str]) -> bool:
    return METADATA in names or any(STRATEGY_DIR.match(n) for n in names)


def find_runs(fs: pafs.FileSystem, root: str, shown: str) -> list[tuple[str, list[str]]]:
    """Experiment directories at or one level below ``root``, each with its files.

    ``root`` is a run if it holds ``metadata.json`` or a ``<strategy>-seed<k>`` folder;
    otherwise each child folder that is a run counts (a storage folder holding several
    runs). A folder that has neither metadata.json nor a result.json anywhere below it
    holds no run at all: :class:`ResultsError` naming ``shown`` (the path as given), so
    that analysing the wrong folder is an error rather than an empty table. A run that
    has just started (metadata.json, no rows yet) is a run.
    """
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"no such experiment directory: {shown}")
    if info.type != pafs.FileType.Directory:
        raise NotADirectoryError(f"not an experiment directory: {shown}")
    files = list_files(fs, root)
    if not any(posixpath.basename(f) in (METADATA, RESULT) for f in files):
        raise ResultsError(f"{shown}: no experiment run here (no {METADATA} and no {RESULT} "
                           f"anywhere below it)")
    by_child: dict[str, list[str]] = defaultdict(list)
    top_level: set[str] = set()
    cut = len(root.rstrip("/")) + 1
    for f in files:
        parts = f[cut:].split("/")
        if len(parts) == 1:
            top_level.add(parts[0])
        else:
            by_child[parts[0]].append(f)
    if _is_run(top_level | set(by_child)):
        return [(root, files)]
    runs = []
    for child, child_files in sorted(by_child.items()):
        child_root = posixpath.join(root, child)
        if _is_run({f[len(child_root) + 1:].split("/", 1)[0] for f in child_files}):
            runs.append((child_root, child_files))
    if not runs:
        # Result files, but not in the run layout: read it as one anyway so the user sees what is odd.
        return [(root, files)]
    return runs


def run_sources(path: PathLike, run_root: str) -> tuple[str, str]:
    """(what to resolve the filesystem from, the run's root inside it): the loader's
    ``attrs["sources"]``, by which the prediction files of a run are found again."""
    return os.fspath(path), run_root
