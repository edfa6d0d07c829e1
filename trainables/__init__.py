"""Everything that trains one model: config, data, models, regularizers, engine, one trial.

Ray appears only in `trainables.tune`; everything else runs in a plain Python session.
Families, models and datasets are registries with one file per entry
(`trainables.families`, `trainables.models`, `trainables.datasets`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .config import ConfigError, TrialConfig

if TYPE_CHECKING:
    from .models.noise import NoiseInjection


def run_trial(config: Mapping[str, Any] | TrialConfig,
              progress: bool | Callable[[str], None] = False) -> list[dict[str, Any]]:
    """Train one trial without Ray, `progress` a line per epoch; see `trainables.trial.run_trial`."""
    from .trial import (
        run_trial as _run_trial,  # lazy: keeps `import trainables` free of torch
    )

    return _run_trial(config, progress)


def check_config(config: Mapping[str, Any] | TrialConfig, *, files: bool = True,
                 device: bool = True) -> TrialConfig:
    """What a trial would refuse, without its data or a GPU; see `trainables.check`."""
    from .check import check_config as _check_config

    return _check_config(config, files=files, device=device)


def rho_names(config: Mapping[str, Any] | TrialConfig) -> tuple[str, ...]:
    """The per-layer rho names of the config's family on its model; see `trainables.check`."""
    from .check import rho_names as _rho_names

    return _rho_names(config)


def __getattr__(name: str) -> Any:
    """``trainables.NoiseInjection``, imported on first use (it needs torch)."""
    if name == "NoiseInjection":
        from .models.noise import NoiseInjection

        return NoiseInjection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConfigError", "NoiseInjection", "TrialConfig", "check_config", "rho_names", "run_trial"]
