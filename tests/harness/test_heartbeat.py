"""Status lines between a unit's start and end: the running units' trial-epochs, counted from
their result files, with an ETA that moves with the epochs (harness.run.heartbeat)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.run import console
from harness.run.heartbeat import Heartbeat, trial_epochs
from harness.run.storage import Storage


def _write_epochs(run: Path, unit: str, trial: str, epochs: int) -> None:
    d = run / unit / trial
    d.mkdir(parents=True, exist_ok=True)
    (d / "params.json").write_text("{}")
    (d / "result.json").write_text("".join(json.dumps({"epoch": e}) + "\n"
                                           for e in range(1, epochs + 1)))


def test_trial_epochs_counts_every_trials_lines(tmp_path):
    _write_epochs(tmp_path, "asha-seed0", "t0", 3)
    _write_epochs(tmp_path, "asha-seed0", "t1", 5)
    (tmp_path / "asha-seed0" / "not-a-trial").mkdir()
    assert trial_epochs(Storage(str(tmp_path / "asha-seed0"))) == 8
    assert trial_epochs(Storage(str(tmp_path / "nothing-yet"))) == 0


def test_a_beat_reports_the_running_units_and_moves_the_eta(tmp_path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(console.time, "perf_counter", lambda: now[0])
    lines: list[str] = []
    progress = console.Progress([("pbt-seed0", 80.0), ("fixed-seed0", 20.0)], echo=lines.append)
    beat = Heartbeat(Storage(str(tmp_path)), progress, interval=0).beat
    progress.start("pbt-seed0")
    progress.start("fixed-seed0")
    beat()  # nothing written yet: no line
    assert len(lines) == 2
    _write_epochs(tmp_path, "pbt-seed0", "m0", 10)
    _write_epochs(tmp_path, "pbt-seed0", "m1", 10)
    _write_epochs(tmp_path, "fixed-seed0", "t0", 5)
    now[0] = 50.0  # 25 of 100 trial-epochs in 50 s: 150 s to go
    beat()
    assert lines[-1] == ("... 2 running: pbt-seed0 20/80, fixed-seed0 5/20 trial-epochs · "
                         "elapsed 0:50 · ETA 2:30")
    beat()  # no count moved: no new line
    assert len(lines) == 3
    _write_epochs(tmp_path, "fixed-seed0", "t0", 20)
    progress.end("fixed-seed0", "finished", "1 of 1 trials ended")  # an ended unit is not shown
    now[0] = 100.0
    _write_epochs(tmp_path, "pbt-seed0", "m0", 30)
    beat()
    assert lines[-1] == ("... 1 running: pbt-seed0 40/80 trial-epochs · elapsed 1:40 · "
                         "ETA 1:07")  # 60 of 100 done in 100 s


def test_a_unit_that_has_written_nothing_in_this_driver_is_waiting_not_running(monkeypatch):
    """Side by side, a unit can wait minutes for a CPU (Ray does not keep the launch order of
    waiting placement groups): "asha-seed7 0/960" read as a hang. A resumed unit's earlier
    epochs are not progress either."""
    monkeypatch.setattr(console.time, "perf_counter", lambda: 60.0)
    progress = console.Progress([("random-seed3", 960.0), ("asha-seed7", 960.0),
                                 ("pbt-seed0", 480.0)], echo=lambda line: None,
                                started=0.0, earlier={"pbt-seed0": 100.0})
    for name in ("random-seed3", "asha-seed7", "pbt-seed0"):
        progress.start(name)
    progress.update("random-seed3", 431.0)
    progress.update("pbt-seed0", 100.0)  # restored, nothing new yet
    # 431 of this driver's trial-epochs in 60 s; 2,400 - 531 to go: 260 s
    assert progress.status() == ("... 1 running: random-seed3 431/960 trial-epochs; "
                                 "2 waiting: asha-seed7, pbt-seed0 · elapsed 1:00 · ETA 4:20")
    progress.update("pbt-seed0", 130.0)
    assert progress.status().startswith("... 2 running: random-seed3 431/960, pbt-seed0 130/480 "
                                        "trial-epochs; 1 waiting: asha-seed7 · ")


def test_the_thread_beats_while_the_block_runs_and_stops_after(tmp_path):
    lines: list[str] = []
    progress = console.Progress([("fixed-seed0", 10.0)], echo=lines.append)
    progress.start("fixed-seed0")
    with Heartbeat(Storage(str(tmp_path)), progress, interval=0.05):
        for epochs in (1, 2, 3):
            _write_epochs(tmp_path, "fixed-seed0", "t0", epochs)
            time.sleep(0.3)
    n = len(lines)
    assert any("fixed-seed0 3/10 trial-epochs" in line for line in lines), lines
    time.sleep(0.2)
    assert len(lines) == n  # stopped with the block
