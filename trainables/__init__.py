"""Everything that trains one model: config, data, models, regularizers, engine, one trial.

Ray appears only in `trainables.tune`; everything else runs in a plain Python session.
"""

from .config import ConfigError, TrialConfig


def run_trial(config):  # noqa: D401 - thin lazy re-export keeps `import trainables` light
    """Train one trial without Ray; see `trainables.trial.run_trial`."""
    from .trial import run_trial as _run_trial

    return _run_trial(config)


def check_config(config, *, files=True, device=True):
    """What a trial would refuse, without its data or a GPU; see `trainables.check`."""
    from .check import check_config as _check_config

    return _check_config(config, files=files, device=device)


__all__ = ["ConfigError", "TrialConfig", "check_config", "run_trial"]
