"""What to run: experiments, their registry and the ways a user changes them.

    spec.py          ExperimentSpec: the shared TrialConfig plus every search's budget
    registry.py      the named experiments (`quick` is the default main job; the catalogue)
    overrides.py     TOML files and `--set key=value`, typed by the one coercer
    sweep.py         budget sweeps: every strategy at its declared budget points
    suite_spec.py    SuiteSpec: tasks x strategies x seeds, from Python or a suite TOML
    suites.py        the named suites (`small`, `paper`)
    plan.py          a suite's planned cost (FLOPs, trials, wall time) before it runs

The spec is re-exported here: `from harness.experiments import ExperimentSpec`.
"""

from harness.experiments.spec import TASKS, ExperimentSpec, SearchSpace, field_types, trial_field_names

__all__ = ["TASKS", "ExperimentSpec", "SearchSpace", "field_types", "trial_field_names"]
