"""Result-file hygiene: one row per epoch in result.json, superseded and orphaned rows kept
in rerun.json (cost, never silently deleted), half-written lines cut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.run.results_io import (
    cut_partial_lines,
    dedupe_results,
    read_rows,
    recover_checkpointed_rows,
    rerun_rows,
    retire_orphans,
    total_forward,
)
from harness.run.storage import Storage


def _row(it: int, fwd: int = 10, tag: str = "") -> dict:
    return {"training_iteration": it, "epoch": it, "fwd_train": fwd, "fwd_reg": 1, "fwd_eval": 2,
            "fwd_test": 99, "tag": tag}


def _write(exp: Path, trial: str, rows: list[dict], tail: str = "") -> None:
    d = exp / trial
    d.mkdir(parents=True)
    (d / "params.json").write_text("{}")
    (d / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


def test_a_rerun_epoch_keeps_its_last_row_and_its_cost(tmp_path):
    # epochs 1-3, a restore from the epoch-1 checkpoint, epochs 2-4 again
    rows = [_row(1), _row(2, tag="old"), _row(3, tag="old"), _row(2, tag="new"),
            _row(3, tag="new"), _row(4)]
    _write(tmp_path, "t1", rows)
    exp = Storage(str(tmp_path))
    before = total_forward(rows)
    assert dedupe_results(exp) == 2
    kept = read_rows(exp, "t1")
    assert [r["training_iteration"] for r in kept] == [1, 2, 3, 4]
    assert [r["tag"] for r in kept] == ["", "new", "new", ""]
    moved = rerun_rows(exp)
    assert [(r["training_iteration"], r["tag"]) for r in moved] == [(2, "old"), (3, "old")]
    assert total_forward(kept) + total_forward(moved) == before  # no cost lost
    assert total_forward(rows) == 6 * (10 + 1 + 2)  # fwd_test is never a cost
    assert dedupe_results(exp) == 0  # idempotent


def test_epochs_rerun_after_a_restore_are_superseded_though_tune_counts_on(tmp_path):
    # Tuner.restore from the epoch-3 checkpoint after epoch 5: Tune numbers the re-run
    # epochs 4 and 5 as iterations 6 and 7
    rows = [_row(i) for i in range(1, 6)] + [{**_row(6), "epoch": 4, "tag": "new"},
                                              {**_row(7), "epoch": 5, "tag": "new"},
                                              {**_row(8), "epoch": 6}]
    _write(tmp_path, "t1", rows)
    exp = Storage(str(tmp_path))
    assert dedupe_results(exp) == 2
    kept = read_rows(exp, "t1")
    assert [r["epoch"] for r in kept] == [1, 2, 3, 4, 5, 6]
    assert [r["tag"] for r in kept] == ["", "", "", "new", "new", ""]
    assert [r["epoch"] for r in rerun_rows(exp)] == [4, 5]
    assert total_forward(kept) + total_forward(rerun_rows(exp)) == total_forward(rows)


def test_an_orphaned_trial_keeps_its_cost_out_of_the_results(tmp_path):
    _write(tmp_path, "known", [_row(1), _row(2)])
    _write(tmp_path, "orphan", [_row(1, fwd=50)])
    exp = Storage(str(tmp_path))
    assert retire_orphans(exp, [str(tmp_path / "known")]) == ["orphan"]
    assert read_rows(exp, "orphan") == [] and len(read_rows(exp, "known")) == 2
    assert total_forward(rerun_rows(exp)) == 50 + 1 + 2


def test_a_half_written_line_is_cut_and_a_broken_middle_line_dropped(tmp_path):
    _write(tmp_path, "t", [_row(1), _row(2)], tail='{"training_iteration": 3, "ep')
    exp = Storage(str(tmp_path))
    assert cut_partial_lines(exp) == ["t"]
    assert (tmp_path / "t" / "result.json").read_text().endswith("\n")
    with (tmp_path / "t" / "result.json").open("a") as f:
        f.write("not json\n" + json.dumps(_row(3)) + "\n")
    dedupe_results(exp)
    lines = (tmp_path / "t" / "result.json").read_text().splitlines()
    assert [json.loads(line)["training_iteration"] for line in lines] == [1, 2, 3]


def test_rows_lost_behind_the_checkpoint_come_back_from_it_and_only_the_trials_own(tmp_path):
    """result.json kept epochs 1-2 of a trial whose newest checkpoint holds its rows 1-6; its
    first three rows came from a PBT donor ("b"), whose epoch 3 result.json never lacked."""
    own = [{**_row(e, tag="own"), "trial_id": "a"} for e in range(1, 7)]
    donor = [{**_row(e, tag="donor"), "trial_id": "b"} for e in range(1, 4)]
    _write(tmp_path, "train_a", own[:2])
    for name, rows in (("checkpoint_000000", own[:1]), ("checkpoint_000002", donor + own[3:])):
        (tmp_path / "train_a" / name).mkdir()
        (tmp_path / "train_a" / name / "rows.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows))
    _write(tmp_path, "train_b", own[:1])  # no checkpoint: nothing to recover
    storage = Storage(str(tmp_path))

    assert recover_checkpointed_rows(storage) == {"train_a": 3}
    rows = read_rows(storage, "train_a")
    assert [(r["epoch"], r["tag"]) for r in rows] == [(1, "own"), (2, "own"), (4, "own"),
                                                      (5, "own"), (6, "own")]
    assert recover_checkpointed_rows(storage) == {}  # twice is once


@pytest.mark.parametrize("newest", ["", "cut"])
def test_a_newest_checkpoint_cut_short_by_a_full_disk_leaves_the_older_ones_rows(tmp_path, newest):
    """The full-disk test's fault (3 of 17 runs here): result.json kept epochs 1-2; the disk filled
    while the trial saved its epoch-9 checkpoint, leaving that folder's rows file empty or cut
    after its first row; Tune restores from the epoch-6 checkpoint, whose rows 3-6 must come
    back (only the newest was read: nothing came back, and epochs 3-6 were missing)."""
    own = [{**_row(e), "trial_id": "a"} for e in range(1, 10)]
    _write(tmp_path, "train_a", own[:2])
    text = {"": "", "cut": json.dumps(own[0]) + "\n" + json.dumps(own[1])[:20]}[newest]
    for name, body in (("checkpoint_000001", "".join(json.dumps(r) + "\n" for r in own[:6])),
                       ("checkpoint_000002", text)):
        (tmp_path / "train_a" / name).mkdir()
        (tmp_path / "train_a" / name / "rows.jsonl").write_text(body)
    storage = Storage(str(tmp_path))

    assert recover_checkpointed_rows(storage) == {"train_a": 4}
    assert [r["epoch"] for r in read_rows(storage, "train_a")] == [1, 2, 3, 4, 5, 6]


def test_a_trial_directory_of_checkpoints_alone_gets_its_rows_back(tmp_path):
    """The driver was killed before it first copied the trial's params.json and result.json to
    storage; the trial had already written its epoch-4 checkpoint there itself."""
    own = [{**_row(e), "trial_id": "a"} for e in range(1, 5)]
    checkpoint = tmp_path / "train_a" / "checkpoint_000001"
    checkpoint.mkdir(parents=True)
    (checkpoint / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in own))
    (tmp_path / "not_a_trial").mkdir()  # e.g. a searcher's folder: left alone
    storage = Storage(str(tmp_path))

    assert recover_checkpointed_rows(storage) == {"train_a": 4}
    assert [r["epoch"] for r in read_rows(storage, "train_a")] == [1, 2, 3, 4]
    assert not (tmp_path / "not_a_trial" / "result.json").exists()
