"""The harness: experiments, search strategies, the runner and the `crossreg` CLI.

    experiments/     what to run: ExperimentSpec, the registry, TOML/`--set` overrides,
                     sweeps, suites and their planned cost
    strategies/      one file per strategy, found by scanning the package
    run/             the life of a run: runner, suites, preflight, Ray session, storage,
                     lock, metadata, interrupts, completeness, progress, loggers
    cli/             `crossreg run | sweep | resume | suite | list | keys | analyze | report`
    errors.py        HarnessError: a user-fixable problem, one line, exit code 2
    testing.py       a synthetic trainable and a fault injector for tests and benchmarks

Imports point one way (docs/design.md): cli -> run -> experiments and strategies ->
trainables, analysis; no module imports one that imports it back; nothing imports harness.
"""
