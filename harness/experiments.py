"""What one experiment is: a frozen spec from which every strategy builds its trials.

An `ExperimentSpec` pins everything the fairness rules of DESIGN.md require to be shared by
all strategies (model, data split, epochs per trial, batch size, seeds) next to the budget of
each search (PBT population, ASHA samples, grid values and folds). `trial_config` is the only
place where a spec becomes a trainable config, so every strategy sees the same model and data
and differs only in `mode`, `rho`, `role` and the fold keys.

The spec is validated when it is built: a registry entry, a TOML file or a `--set` override
that asks for something impossible fails before Ray starts, with a message naming the key.
Names that point into a registry (strategies, dataset, model, family) are checked by the
preflight (harness.preflight), which imports those registries, so that building a spec
stays cheap (no Ray, no torch).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from harness.errors import SpecError

TASKS = ("classification", "regression")
OPTIMIZERS = ("adam", "adamw", "sgd")
AUGMENT_NAMES = ("translate", "rotate", "shear")


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment: the shared training setup plus the budget of every search strategy.

    Defaults are explicit here (DESIGN.md: every default pinned in code); the registry in
    `harness.registry` states the values of each named experiment on top of them.
    """

    name: str
    description: str = ""
    # data and split (shared by every strategy; split_seed follows the seed)
    dataset: str = "digits"
    task: str = "classification"  # decides the selection metric: val_acc/max or val_loss/min
    n_train: int | None = None  # size of the training pool (train + reg); None = all of it
    reg_fraction: float = 0.1
    data_dir: str | None = None
    download: bool = False
    # network
    model: str = "mlp"
    width: int = 256
    depth: int = 2
    # regularizer family and the cross-reg knobs
    family: str = "noise"
    r: int = 1
    K: int = 4
    rho_optimizer: str = "adam"
    rho_lr: float = 1e-2
    rho_init: float = 0.1  # cross_reg starts every rho here (must be > 0: learned in log space)
    reg_batch_size: int = 128
    # theta training (identical for every strategy)
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 20
    batch_size: int = 128
    # strategies and seeds
    strategies: tuple[str, ...] = ("cross_reg", "pbt", "grid_cv", "asha")
    seeds: int = 3
    # search spaces. Per-layer names for PBT/ASHA; () derives them from family and depth,
    # or uses one shared scalar where the layer count is model-specific (CNNs, linear).
    rho_names: tuple[str, ...] = ()
    rho_low: float = 1e-2  # log-uniform range searched by PBT and ASHA
    rho_high: float = 3.0
    fixed_rho: float = 0.0  # the `fixed` strategy: 0 = the unregularised baseline
    pbt_population: int = 8
    pbt_interval: int = 0  # epochs between exploit/explore; 0 = about 5% of epochs, min 1
    pbt_quantile: float = 0.25
    pbt_resample: float = 0.25
    asha_samples: int = 16
    asha_grace_period: int = 1
    asha_reduction_factor: int = 3
    grid_values: tuple[float, ...] = (0.01, 0.1, 1.0)  # shared scalar, log-spaced
    cv_folds: int = 5  # 1 = a single hold-out split (the regularization split)
    # resources and robustness
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2  # a failing trial is retried from its last checkpoint this often
    # epochs between trial checkpoints; 0 = four per run plus the last (PBT uses its interval)
    checkpoint_every: int = 0
    device: str = "auto"
    bf16: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        _validate(self)

    # --- derived values -------------------------------------------------------------

    @property
    def metric(self) -> str:
        """The validation column every search selects on (never a test column)."""
        return "val_acc" if self.task == "classification" else "val_loss"

    @property
    def mode(self) -> str:
        return "max" if self.task == "classification" else "min"

    @property
    def perturbation_interval(self) -> int:
        """PBT's interval in epochs: the pinned one (at most `epochs`), else ~5% of the
        epochs (at least 1)."""
        if self.pbt_interval > 0:
            return min(self.pbt_interval, self.epochs)
        return max(1, round(0.05 * self.epochs))

    @property
    def checkpoint_interval(self) -> int:
        """Epochs between a trial's checkpoints: the pinned `checkpoint_every`, else a quarter
        of the run (every checkpoint is a write and a Tune snapshot; a retry or resume loses
        at most this many epochs). The last epoch always checkpoints."""
        if self.checkpoint_every > 0:
            return min(self.checkpoint_every, self.epochs)
        return max(1, math.ceil(self.epochs / 4))

    @property
    def grace_period(self) -> int:
        """ASHA's grace period in epochs, at most `epochs` (so `--set epochs=1` still runs)."""
        return min(self.asha_grace_period, self.epochs)

    def layer_names(self) -> tuple[str, ...]:
        """Names of the per-layer rho values PBT and ASHA search; () means one shared scalar.

        Noise on an MLP has one point per hidden layer (`sigma_0`..); augmentation has its
        three magnitudes. For other models the count depends on the architecture, so the
        search uses a scalar (broadcast by the trainable) unless `rho_names` lists them.
        """
        if self.rho_names:
            return self.rho_names
        if self.family == "noise" and self.model == "mlp":
            return tuple(f"sigma_{i}" for i in range(self.depth))
        if self.family == "augment":
            return AUGMENT_NAMES
        return ()

    def per_layer(self, value: Any) -> Any:
        """`value` for every per-layer name as a dict, or `value` itself for a scalar rho."""
        names = self.layer_names()
        return {n: value for n in names} if names else value

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key, value in d.items():
            if isinstance(value, tuple):
                d[key] = list(value)
        return d

    def replace(self, **changes: Any) -> ExperimentSpec:
        return dataclasses.replace(self, **changes)

    # --- the one place a spec becomes a trainable config ---------------------------

    def trial_config(self, strategy: str, seed: int, *, learned: bool,
                     **overrides: Any) -> dict[str, Any]:
        """The config of one trial of `strategy` for `seed`, as `trainables` expects it.

        Everything shared by all strategies comes from the spec; the strategy decides only
        whether rho is `learned` (cross-reg) or frozen (mode), the initial or frozen `rho`,
        the `role` label and, for grid CV, the fold keys (passed as overrides).
        """
        config: dict[str, Any] = {
            "dataset": self.dataset,
            "data_dir": self.data_dir,
            "download": self.download,
            "n_train": self.n_train,
            "reg_fraction": self.reg_fraction,
            "split_seed": seed,
            "model": self.model,
            "width": self.width,
            "depth": self.depth,
            "family": self.family,
            "mode": "cross_reg" if learned else "fixed",
            "rho": self.per_layer(self.rho_init if learned else self.fixed_rho),
            "K": self.K,
            "r": self.r,
            "rho_optimizer": self.rho_optimizer,
            "rho_lr": self.rho_lr,
            "reg_batch_size": self.reg_batch_size,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": seed,
            "device": self.device,
            "bf16": self.bf16,
            "channels_last": self.channels_last,
            "checkpoint_every": self.checkpoint_interval,
            "experiment": self.name,
            "strategy": strategy,
            "role": "single",
        }
        config.update(overrides)
        return config

    def smoke(self) -> ExperimentSpec:
        """A shrunken copy for a fast end-to-end check: few epochs, tiny searches."""
        epochs = min(self.epochs, 3)
        return self.replace(
            name=f"{self.name}-smoke",  # its rows must never pool with the real experiment's
            epochs=epochs,
            n_train=min(self.n_train or 300, 300),
            pbt_population=min(self.pbt_population, 2),
            pbt_interval=1,
            asha_samples=min(self.asha_samples, 2),
            asha_grace_period=1,
            grid_values=self.grid_values[:2],
            cv_folds=min(self.cv_folds, 2),
            seeds=1,
        )


def field_types() -> dict[str, Any]:
    """Resolved type hints of the spec's fields (the source of override coercion)."""
    import typing

    return typing.get_type_hints(ExperimentSpec)


def _validate(spec: ExperimentSpec) -> None:
    def need(cond: bool, key: str, why: str) -> None:
        if not cond:
            raise SpecError(f"{key}={getattr(spec, key)!r}: {why}")

    need(bool(spec.name) and "/" not in spec.name and not spec.name.startswith("."), "name",
         "must be a non-empty name usable as a directory")
    need(spec.task in TASKS, "task", f"choose one of {', '.join(TASKS)}")
    need(spec.optimizer in OPTIMIZERS, "optimizer", f"choose one of {', '.join(OPTIMIZERS)}")
    need(spec.rho_optimizer in OPTIMIZERS, "rho_optimizer", f"choose one of {', '.join(OPTIMIZERS)}")
    need(len(spec.strategies) > 0, "strategies", "name at least one strategy")
    need(len(set(spec.strategies)) == len(spec.strategies), "strategies", "lists a strategy twice")
    for key in ("epochs", "seeds", "width", "K", "r", "batch_size", "reg_batch_size",
                "pbt_population", "asha_samples", "asha_grace_period", "cv_folds"):
        need(getattr(spec, key) >= 1, key, "must be >= 1")
    need(spec.depth >= 0, "depth", "must be >= 0")
    need(spec.pbt_population >= 2, "pbt_population", "PBT needs a population of at least 2")
    need(spec.pbt_interval >= 0, "pbt_interval", "must be >= 0 (0 = about 5% of epochs)")
    need(spec.checkpoint_every >= 0, "checkpoint_every", "must be >= 0 (0 = four per run)")
    need(spec.asha_reduction_factor >= 2, "asha_reduction_factor", "must be >= 2")
    need(spec.max_failures >= 0, "max_failures", "must be >= 0")
    need(spec.n_train is None or spec.n_train >= 4, "n_train", "must be >= 4 (or unset = all)")
    for key in ("reg_fraction", "pbt_quantile", "pbt_resample"):
        value = getattr(spec, key)
        need(0 < value < 1, key, "must lie in (0, 1)")
    need(spec.pbt_quantile <= 0.5, "pbt_quantile", "must be at most 0.5 (bottom and top quantiles)")
    for key in ("lr", "rho_lr", "rho_init", "rho_low", "rho_high"):
        value = getattr(spec, key)
        need(math.isfinite(value) and value > 0, key, "must be a finite number > 0")
    need(spec.rho_low < spec.rho_high, "rho_high", f"must exceed rho_low={spec.rho_low}")
    need(math.isfinite(spec.fixed_rho) and spec.fixed_rho >= 0, "fixed_rho", "must be >= 0")
    need(spec.weight_decay >= 0 and math.isfinite(spec.weight_decay), "weight_decay", "must be >= 0")
    need(len(spec.grid_values) >= 1, "grid_values", "name at least one value")
    need(all(math.isfinite(v) and v >= 0 for v in spec.grid_values), "grid_values",
         "values must be finite and >= 0")
    need(len(set(spec.grid_values)) == len(spec.grid_values), "grid_values", "lists a value twice")
    need(spec.cpus_per_trial > 0, "cpus_per_trial", "must be > 0")
    need(spec.gpus_per_trial >= 0, "gpus_per_trial", "must be >= 0")
    need(spec.gpus_per_trial <= 1 or float(spec.gpus_per_trial).is_integer(), "gpus_per_trial",
         "above 1 must be a whole number of GPUs")
    need(len(set(spec.rho_names)) == len(spec.rho_names), "rho_names", "lists a name twice")


__all__ = ["ExperimentSpec", "TASKS", "field_types"]
