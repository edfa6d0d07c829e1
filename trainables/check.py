"""Everything a trial would refuse, found in a second and without its data or a GPU.

A driver calls `check_config` on one config per strategy before it starts Ray, so that a
typo (`dataset=nosuch`), an `n_train` larger than the dataset, a missing data directory,
`device=cuda` on a machine without CUDA, or a user's model or dataset reference that does not
import, returns the wrong thing or has no noise point is one clear line instead of every trial
failing on the workers. The checks are the trial's own: `TrialConfig` validation (with the
family's domain checks), `check_dataset`, `resolve_device`, `build_network` and
`build_regularizer` on a CPU copy of the model; nothing here restates a rule.

`rho_names` gives the names a search space needs, from the same CPU model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from . import families
from .config import ConfigError, TrialConfig
from .datasets import DataError, DatasetSpec, check_dataset
from .member import build_network, build_regularizer, resolve_device
from .trivial_augment import check_images


def _dataset(cfg: TrialConfig, files: bool) -> DatasetSpec:
    try:
        return check_dataset(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download,
                             n_train=cfg.n_train, reg_fraction=cfg.reg_fraction,
                             n_folds=cfg.n_folds, fold=cfg.fold, files=files,
                             label_noise=cfg.label_noise)
    except DataError as exc:
        raise ConfigError(f"dataset={cfg.dataset!r}: {exc}") from exc


def _cpu_model(cfg: TrialConfig, spec: DatasetSpec) -> nn.Module:
    """The trial's model on the CPU. Building draws weights from the global generator: its
    state is restored, so a check leaves no trace on the caller's random numbers."""
    n_out = spec.n_classes if spec.task == "classification" else 1
    state = torch.random.get_rng_state()
    try:
        return build_network(cfg, spec.input_shape, n_out)
    finally:
        torch.random.set_rng_state(state)


def check_config(config: Mapping[str, Any] | TrialConfig, *, files: bool = True,
                 device: bool = True) -> TrialConfig:
    """The validated config, or a ConfigError naming the first problem.

    ``files=False`` skips the presence of a file-based dataset's files and ``device=False``
    the availability of the requested device: a cluster's head node may hold neither the data
    nor a GPU that the workers have.
    """
    cfg = TrialConfig.from_dict(config)
    spec = _dataset(cfg, files)
    if cfg.trivial_augment:
        check_images(cfg.dataset, spec.input_shape)
    if device:
        resolve_device(cfg.device)
    model = _cpu_model(cfg, spec)
    build_regularizer(cfg, model, spec.input_shape, generator=None)
    return cfg


def rho_names(config: Mapping[str, Any] | TrialConfig) -> tuple[str, ...]:
    """The rho names of the config's family on the config's model (e.g. one ``sigma_i`` per
    noise point), for a search space; () for a family with no rho. Built on the CPU without
    loading a registered dataset's data; the global torch RNG is left as it was."""
    cfg = TrialConfig.from_dict(config)
    spec = _dataset(cfg, files=False)
    return families.get(cfg.family).rho_names(_cpu_model(cfg, spec), spec.input_shape)


__all__ = ["ConfigError", "check_config", "rho_names"]
