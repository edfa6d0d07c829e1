"""The harness: experiments, search strategies, the runner and the `crossreg` CLI.

    experiments.py   ExperimentSpec: the shared TrialConfig plus every search's budget
    registry.py      the named experiments (`quick` is the default main job; the catalogue)
    overrides.py     TOML files and `--set key=value`, type-checked against the spec
    strategies/      one file per strategy, found by scanning the package
    preflight.py     every strategy's trial configs checked before Ray starts
    runner.py        Ray session, run directory, metadata.json, resume, concurrency
    sweep.py         budget sweeps: every strategy at its declared budget points
    completeness.py  when a (strategy, seed) is finished, judged by its rows
    interrupts.py    SIGINT/SIGTERM: a graceful stop, recorded, exit 130
    lock.py          one driver per run directory
    session.py       the Ray session: address probe, RAY_ADDRESS, resources
    console.py       progress lines with an ETA; Ray's chatter off
    storage.py       the run directory on a local path or a URI (pyarrow filesystems)
    results_io.py    result.json hygiene (one row per epoch; re-runs to rerun.json)
    testing.py       a synthetic trainable and a fault injector for tests and benchmarks
    cli.py           `crossreg run | sweep | resume | list | analyze | report | linear-demo`

Imports point one way (docs/design.md): harness -> trainables, analysis; nothing imports harness.
"""
