"""Tuners of one name start apart (Tune's staging folder is keyed by name and second)."""

from __future__ import annotations

import itertools
import tempfile
import threading
import time

from harness.run import staging


def test_starts_of_one_name_are_spaced_and_other_names_do_not_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(staging, "SPACING_S", 0.4)
    starts: dict[str, list[float]] = {"a": [], "b": []}

    def start(name: str) -> None:
        staging.wait_for_turn(name)
        starts[name].append(time.time())

    threads = [threading.Thread(target=start, args=(n,)) for n in ("a", "a", "a", "b")]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a = sorted(starts["a"])
    assert all(later - earlier >= 0.39 for earlier, later in itertools.pairwise(a))
    assert starts["b"][0] - t0 < 0.3  # another name's lock is its own
