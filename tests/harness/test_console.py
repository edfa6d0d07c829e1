"""Progress lines: a start and an end line per (strategy, seed), an ETA from work done."""

from __future__ import annotations

import pytest

from harness.run import console


def test_eta_is_elapsed_times_remaining_work_over_work_done(monkeypatch):
    clock = iter([0.0, 10.0, 10.0, 10.0, 30.0, 30.0])
    monkeypatch.setattr(console.time, "perf_counter", lambda: next(clock))
    lines: list[str] = []
    progress = console.Progress([("a-seed0", 1.0), ("b-seed0", 3.0)], echo=lines.append)
    progress.start("a-seed0")  # t=10
    progress.end("a-seed0", "finished", "1 of 1 trials ended")  # t=10: 1 of 4 units in 10 s
    assert lines == ["[1/2] a-seed0 started · elapsed 0:10",
                     "[1/2] a-seed0 finished: 1 of 1 trials ended · elapsed 0:10 · ETA 0:30"]
    progress.end("b-seed0", "finished", "2 of 2 trials ended")  # t=30: all done
    assert lines[-1].endswith("· elapsed 0:30 · ETA 0:00")


def test_a_resumed_units_earlier_epochs_are_done_but_not_in_this_drivers_time(monkeypatch):
    """Unit a had written 3 of its 4 trial-epochs before a resume; it ends 10 s after this
    driver started: 1 trial-epoch in 10 s is the rate, and 4 remain (b's): 40 s. Counting the
    earlier 3 as this driver's work would say 10 s."""
    clock = iter([0.0, 0.0, 10.0, 10.0])
    monkeypatch.setattr(console.time, "perf_counter", lambda: next(clock))
    lines: list[str] = []
    progress = console.Progress([("a-seed0", 4.0), ("b-seed0", 4.0)], echo=lines.append,
                                earlier={"a-seed0": 3.0, "b-seed0": 0.0})
    progress.start("a-seed0")
    progress.update("a-seed0", 3.0)  # the heartbeat reads its earlier rows
    assert progress.eta() == "ETA --"  # nothing done by this driver yet
    progress.end("a-seed0", "finished", "1 of 1 trials ended")  # t=10
    assert lines[-1].endswith("· elapsed 0:10 · ETA 0:40")


def test_no_eta_before_anything_ended():
    assert console.Progress([("a-seed0", 1.0)], echo=lambda s: None).eta() == "ETA --"


@pytest.mark.parametrize("seconds,text", [(0, "0:00"), (61.4, "1:01"), (3725, "1:02:05")])
def test_duration(seconds, text):
    assert console.duration(seconds) == text


def test_tunes_resume_hint_is_dropped_and_its_other_warnings_kept(monkeypatch):
    """On an interrupt Tune suggests `Tuner.restore(...)` for one strategy; the harness
    prints `crossreg resume DIR` for the whole run, so Tune's line goes."""
    import logging

    monkeypatch.setattr(console.os, "environ", dict(console.os.environ))
    tune_logger = logging.getLogger("ray.tune.tune")
    monkeypatch.setattr(tune_logger, "filters", list(tune_logger.filters))
    levels = {n: logging.getLogger(n).level for n in console.RAY_LOGGERS}
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep()
    tune_logger.addHandler(handler)
    try:
        console.quiet_ray(verbose=False)
        console.quiet_ray(verbose=False)  # twice: one filter, not two
        tune_logger.warning("Experiment has been interrupted, but the most recent state was "
                            "saved.\nResume experiment with: Tuner.restore(path=\"/x\", "
                            "trainable=...)")
        tune_logger.warning("something else Tune has to say")
    finally:
        tune_logger.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert seen == ["something else Tune has to say"]
    assert sum(isinstance(f, console.DropTunesResumeHint) for f in tune_logger.filters) == 1


def test_tunes_checkpoint_traceback_is_dropped_unless_verbose(monkeypatch):
    """Tune's controller logs "Trial ...: Error handling checkpoint ..." with a traceback in
    default resumes; the rows and rerun.json, not Tune's checkpoint bookkeeping, decide what a
    resume did, so by default it goes, and `--verbose` (no filter) keeps it."""
    import logging
    import sys

    monkeypatch.setattr(console.os, "environ", dict(console.os.environ))
    controller = logging.getLogger(console.TUNE_CONTROLLER_LOGGER)
    monkeypatch.setattr(controller, "filters", [])  # as in a --verbose process: none yet
    levels = {n: logging.getLogger(n).level for n in console.RAY_LOGGERS}
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    def log_both() -> None:
        try:
            raise FileNotFoundError("checkpoint_000003")
        except FileNotFoundError:
            # as tune_controller.py logs it (logger.exception, %-style arguments)
            controller.exception("Trial %s: Error handling checkpoint %s", "train_abc",
                                 "_FutureTrainingResult(...)")
        controller.warning("another word from the controller")

    handler = Keep()
    controller.addHandler(handler)
    try:
        console.quiet_ray(verbose=True)
        log_both()
        assert seen[0].getMessage().startswith("Trial train_abc: Error handling")
        assert seen[0].exc_info is not None and seen[0].exc_info[0] is FileNotFoundError
        seen.clear()
        console.quiet_ray(verbose=False)
        console.quiet_ray(verbose=False)  # twice: one filter, not two
        log_both()
    finally:
        controller.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert [r.getMessage() for r in seen] == ["another word from the controller"]
    assert sum(isinstance(f, console.DropCheckpointBookkeepingError)
               for f in controller.filters) == 1
    assert sys.exc_info() == (None, None, None)
