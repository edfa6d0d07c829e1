"""The harness: experiments, search strategies, the runner and the `crossreg` CLI.

    experiments.py   ExperimentSpec: one experiment, validated; `trial_config` builds trials
    registry.py      the named experiments (`quick` is the default main job)
    overrides.py     TOML files and `--set key=value`, type-checked against the spec
    strategies/      one builder per strategy, each returning a ray.tune.Tuner
    runner.py        Ray session, run directory, metadata.json, resume
    storage.py       the run directory on a local path or a URI (pyarrow filesystems)
    results_io.py    result.json hygiene (one row per epoch) and the per-strategy summary line
    testing.py       a synthetic trainable and a fault injector for tests and benchmarks
    cli.py           `crossreg run | resume | list | analyze | report`

Imports point one way (DESIGN.md): harness -> trainables, analysis; nothing imports harness.
"""
