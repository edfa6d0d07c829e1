"""The experiment run directory, local or remote, through one small pyarrow-fs wrapper.

Ray Tune writes trial directories through pyarrow filesystems, so the harness does too:
the same code reads and writes `metadata.json` and tidies result files whether the storage
is a local directory, an NFS mount or an `s3://` / `gs://` URI. Local paths are made
absolute first because Ray changes a trial's working directory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import posixpath
import urllib.parse
import uuid
from dataclasses import dataclass

import pyarrow.fs as pafs

from harness.errors import HarnessError


def is_uri(path: str) -> bool:
    return "://" in path


def normalize(path: str) -> str:
    """A URI unchanged, a local path made absolute (with ~ expanded)."""
    return path if is_uri(path) else os.path.abspath(os.path.expanduser(path))


@dataclass(frozen=True)
class Storage:
    """A directory on some pyarrow filesystem; paths below it are relative, '/'-separated."""

    root: str  # absolute local path or URI, as the user (and Ray) sees it

    @functools.cached_property
    def _fs_and_path(self) -> tuple[pafs.FileSystem, str]:
        """Resolved once per Storage: for s3:// or gs:// that builds a client (credentials,
        region), which every exists/read/list call would otherwise repeat."""
        try:
            return pafs.FileSystem.from_uri(self.root)
        except (ValueError, OSError) as e:  # pyarrow's ArrowInvalid is a ValueError
            raise HarnessError(f"storage {self.root}: {e}") from None

    def _full(self, rel: str = "") -> tuple[pafs.FileSystem, str]:
        fs, base = self._fs_and_path
        return fs, posixpath.join(base, rel) if rel else base

    @property
    def name(self) -> str:
        """The directory's own name (a run directory's name), without a URI's `?options`."""
        path = urllib.parse.urlsplit(self.root).path if is_uri(self.root) else self.root
        return posixpath.basename(path.rstrip("/"))

    def child(self, rel: str) -> Storage:
        if not is_uri(self.root):
            return Storage(os.path.join(self.root, rel))
        parts = urllib.parse.urlsplit(self.root)  # join the path, keep ?region=... options
        return Storage(parts._replace(path=posixpath.join(parts.path, rel)).geturl())

    def ensure_writable(self) -> None:
        """Create the directory and prove a file can be written there, or raise HarnessError."""
        try:
            fs, path = self._full()
            fs.create_dir(path, recursive=True)
            probe = posixpath.join(path, f".write-test-{uuid.uuid4().hex}")
            try:
                with fs.open_output_stream(probe) as f:
                    f.write(b"ok")
            finally:  # a full disk creates the file, then refuses its bytes
                with contextlib.suppress(Exception):
                    fs.delete_file(probe)
        except HarnessError:
            raise
        except Exception as e:  # pyarrow raises OSError subclasses and ArrowException
            raise HarnessError(f"storage path {self.root} is not writable: {e}") from None

    def write_fault(self) -> str | None:
        """Why a file cannot be written here now (the OS's words), or None if one can."""
        try:
            self.ensure_writable()
        except HarnessError as e:
            reason = str(e).split(": ", 1)[-1].split("\n")[0]
            return reason.rsplit("Detail: ", 1)[-1]  # pyarrow's errno text, not its preamble
        return None

    def exists(self, rel: str = "") -> bool:
        fs, path = self._full(rel)
        return fs.get_file_info(path).type != pafs.FileType.NotFound

    def read_bytes(self, rel: str) -> bytes:
        fs, path = self._full(rel)
        with fs.open_input_stream(path) as f:
            return f.read()

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode()

    def write_text(self, rel: str, text: str) -> None:
        """Write a file; atomically (temp file + rename) where the filesystem allows it."""
        fs, path = self._full(rel)
        tmp = posixpath.join(posixpath.dirname(path), f".{uuid.uuid4().hex}.tmp")
        try:
            with fs.open_output_stream(tmp) as f:
                f.write(text.encode())
        except BaseException:  # a full disk: leave no half-written temp file behind
            with contextlib.suppress(Exception):
                fs.delete_file(tmp)
            raise
        try:
            fs.move(tmp, path)
        except (OSError, NotImplementedError):  # object stores without rename
            fs.delete_file(tmp)
            with fs.open_output_stream(path) as f:
                f.write(text.encode())

    def list_dirs(self, rel: str = "") -> list[str]:
        """Names of the immediate subdirectories of `rel`."""
        return self._list(rel, pafs.FileType.Directory)

    def list_files(self, rel: str = "") -> list[str]:
        """Names of the immediate files of `rel`."""
        return self._list(rel, pafs.FileType.File)

    def _list(self, rel: str, kind: pafs.FileType) -> list[str]:
        fs, path = self._full(rel)
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            return []
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=False))
        return sorted(posixpath.basename(i.path) for i in infos if i.type == kind)

    def delete_file(self, rel: str) -> None:
        fs, path = self._full(rel)
        if fs.get_file_info(path).type == pafs.FileType.File:
            fs.delete_file(path)

    def delete_dir(self, rel: str) -> None:
        fs, path = self._full(rel)
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            fs.delete_dir(path)


__all__ = ["Storage", "is_uri", "normalize"]
