"""Everything a trial would refuse, found in a second and without its data or a GPU.

A driver calls `check_config` on one config per strategy before it starts Ray, so that a
typo (`dataset=nosuch`), an `n_train` larger than the dataset, a missing data directory or
`device=cuda` on a machine without CUDA is one clear line instead of every trial failing on
the workers. The checks are the trial's own: `TrialConfig` validation, the dataset's
`_validate` (through `check_dataset`), `resolve_device`, `build_network` and
`build_regularizer` on a CPU copy of the model; nothing here restates a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import ConfigError, TrialConfig


def check_config(config: Mapping[str, Any] | TrialConfig, *, files: bool = True,
                 device: bool = True) -> TrialConfig:
    """The validated config, or a ConfigError naming the first problem.

    ``files=False`` skips the presence of a file-based dataset's files and ``device=False``
    the availability of the requested device: a cluster's head node may hold neither the data
    nor a GPU that the workers have.
    """
    import torch

    from .data import DataError, check_dataset
    from .trial import build_network, build_regularizer, resolve_device

    cfg = TrialConfig.from_dict(config)
    try:
        spec = check_dataset(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download,
                             n_train=cfg.n_train, reg_fraction=cfg.reg_fraction,
                             n_folds=cfg.n_folds, fold=cfg.fold, files=files)
    except DataError as exc:
        raise ConfigError(f"dataset={cfg.dataset!r}: {exc}") from exc
    if device:
        resolve_device(cfg.device)
    n_out = spec.n_classes if spec.task == "classification" else 1
    state = torch.random.get_rng_state()  # building a model draws weights: leave no trace
    try:
        model = build_network(cfg, spec.input_shape, n_out)
        build_regularizer(cfg, model, spec.input_shape, generator=None)
    finally:
        torch.random.set_rng_state(state)
    return cfg


__all__ = ["check_config", "ConfigError"]
