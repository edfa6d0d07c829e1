"""`trainables.datasets.disk_cache`: made once per machine, read back the same, made again when
the file is damaged, and an unwritable cache skipped unless the user named the directory."""

from __future__ import annotations

import os

import numpy as np
import pytest

from trainables.datasets.disk_cache import cached_arrays


def _maker(calls: list[int]):
    def make() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array([0, 1])}
    return make


def test_made_once_then_read_back_the_same_and_read_only(tmp_path) -> None:
    calls: list[int] = []
    path = str(tmp_path / "sub" / "a.npz")
    first = cached_arrays(path, _maker(calls))
    second = cached_arrays(path, _maker(calls))
    assert calls == [1] and os.path.isfile(path)
    for k in ("x", "y"):
        assert np.array_equal(first[k], second[k]) and first[k].dtype == second[k].dtype
        assert not second[k].flags.writeable
    with pytest.raises(ValueError):
        second["x"][0, 0] = 1.0


@pytest.mark.parametrize("damage", ["garbage", "cut short"])
def test_a_damaged_file_is_made_again(tmp_path, damage) -> None:
    calls: list[int] = []
    path = tmp_path / "a.npz"
    cached_arrays(str(path), _maker(calls))
    whole = path.read_bytes()
    path.write_bytes(b"damaged" if damage == "garbage" else whole[: len(whole) // 3])
    again = cached_arrays(str(path), _maker(calls))
    assert calls == [1, 1] and np.array_equal(again["y"], [0, 1])
    cached_arrays(str(path), _maker(calls))  # saved whole again: read, not made
    assert calls == [1, 1]


def test_an_unwritable_cache_is_skipped_unless_the_user_named_it(tmp_path) -> None:
    blocker = tmp_path / "a file"  # a directory that cannot be made, even by root
    blocker.write_text("")
    calls: list[int] = []
    assert np.array_equal(cached_arrays(str(blocker / "a.npz"), _maker(calls))["y"], [0, 1])
    with pytest.raises(OSError):
        cached_arrays(str(blocker / "a.npz"), _maker(calls), must_write=True)
    assert calls == [1, 1]
