"""The life of a run: from a spec to a finished run directory, and back after an interrupt.

    runner.py        start and resume a run: the Ray session, the run directory, its units
    suite.py         start and resume a suite: one run directory per task, suite.json
    preflight.py     every trial config checked before Ray starts
    session.py       the Ray session: address probe, RAY_ADDRESS, resources
    storage.py       the run directory on a local path or a URI (pyarrow filesystems)
    lock.py          one driver per run directory
    metadata.py      metadata.json: what ran, at which commit, how it ended
    recording.py     a run's status written however it ends
    interrupts.py    SIGINT/SIGTERM: a graceful stop, recorded, exit 130
    staging.py       trial starts spaced so processes do not all import at once
    completeness.py  when a (strategy, seed) is finished, judged by its rows
    results_io.py    result.json hygiene (one row per epoch; re-runs to rerun.json)
    saved_state.py   whether Tune's saved state can be restored, or the unit restarts clean
    console.py       progress lines with an ETA; Ray's chatter off
    heartbeat.py     a status line every 30 s: each running unit's epochs and an ETA
    loggers.py       `--log tensorboard|mlflow|wandb` through Tune's logger callbacks
"""
