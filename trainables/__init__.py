"""Everything that trains one model: config, data, models, regularizers, engine, one trial.

Ray appears only in `trainables.tune`; everything else runs in a plain Python session.
"""

from .config import ConfigError, TrialConfig


def run_trial(config):  # noqa: D401 - thin lazy re-export keeps `import trainables` light
    """Train one trial without Ray; see `trainables.trial.run_trial`."""
    from .trial import run_trial as _run_trial

    return _run_trial(config)


__all__ = ["ConfigError", "TrialConfig", "run_trial"]
