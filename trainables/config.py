"""The configuration of one trial: a frozen dataclass with every default explicit.

Ray Tune hands a trainable a plain dict; `TrialConfig.from_dict` turns it into this spec and
refuses unknown keys, wrong types and impossible values with a `ConfigError` that names the
key, so a typo in a search space fails the trial at once instead of training the wrong model.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from analysis.contract import ROLES

from .coerce import ConfigError, coerce

#: cross_reg learns rho on the regularization split by its partial gradient; fixed freezes it;
#: t1t2 learns it by the hypergradient through the last theta step (Luketina et al. 2016,
#: `trainables.engine`), on the same split and schedule
MODES = ("cross_reg", "fixed", "t1t2")
#: Fields each search strategy sets per trial (mode, rho, seeds, folds, labels): an experiment
#: declares everything else once and every strategy derives its trials from it.
#: ``members`` is the deep-ensemble strategy's (any other strategy's trials are single networks)
#: and ``device_share`` is filled in by `trainables.tune.train_fn` from the trial's resources.
PER_TRIAL_FIELDS = ("mode", "rho", "split_seed", "n_folds", "fold", "seed", "experiment",
                    "strategy", "role", "members", "device_share")
OPTIMIZERS = ("adam", "adamw", "sgd")
POOLS = ("none", "max", "fractional")
#: where the noise family's noise enters a normalised layer: on its output, after the affine
#: scale (``after_affine``, the default), or on the normalised pre-activation before it
#: (``before_affine``: h = gamma * (u_hat + sigma * eps) + beta, the paper's placement)
NOISE_AT = ("after_affine", "before_affine")


def observe_interval(observe_every: int, epochs: int) -> int:
    """Epochs between a trial's observations (the test split scored, temperature fitted,
    reliability bins): the pinned `observe_every`, else about ten per run, enough for the
    anytime curves the report draws. Observation is never a cost, but on a large test split it
    can take longer than the epoch's training (MNIST-1D's 10,000 rows x the evaluation draws);
    the last epoch (and a diverged end) is always observed, so every final model is."""
    if observe_every > 0:
        return min(observe_every, epochs)
    return max(1, math.ceil(epochs / 10))


def checkpoint_interval(checkpoint_every: int, epochs: int) -> int:
    """Epochs between a trial's checkpoints: the pinned `checkpoint_every`, else a quarter of
    the run (each checkpoint is a write and a Tune snapshot; a retry loses at most this many
    epochs). The last epoch always checkpoints."""
    if checkpoint_every > 0:
        return min(checkpoint_every, epochs)
    return max(1, math.ceil(epochs / 4))


@dataclass(frozen=True)
class TrialConfig:
    """Everything that defines one training run (one Ray Tune trial)."""

    # data and split
    dataset: str = "digits"  # a registered name or a user's "pkg.module:load"
    data_dir: str | None = None
    download: bool = False
    n_train: int | None = None  # size of the training pool (train + reg); None = all of it
    reg_fraction: float = 0.1  # the regularization split, held out of the training pool
    split_seed: int = 0
    # a fraction of the pool's labels replaced by another class (drawn from split_seed's own
    # stream), seen only where those rows train theta: the regularization split and the test
    # split keep their true labels (a task where regularization matters; classification only)
    label_noise: float = 0.0
    n_folds: int = 1  # grid CV: >1 validates on fold `fold` of the pool
    fold: int | None = None  # -1 = refit on the whole pool, no validation split
    # network
    model: str = "mlp"  # a registered name or a user's "pkg.module:build"
    width: int | None = None  # None: the model's own default (mlp 512, cnn 25 or 32 channels)
    depth: int | None = None  # None: the model's own default (mlp 2, cnn 3)
    dropout: float = 0.0
    norm: bool = True
    # the 2-D cnn's downsampling: "none" (stride-2 convolutions), "max" (2x2 max-pooling) or
    # "fractional" (Graham 2014, reduction factor pool_ratio in (1, 2]; None = sqrt(2))
    pool: str = "none"
    pool_ratio: float | None = None
    # regularization
    family: str = "none"  # a registered name or a user's "pkg.module:ATTR" (a Family)
    # the family's own knobs (`Family.options`) that this config sets, as (name, value) pairs;
    # flat keys in `to_dict` and in a Ray config, like every field (`option` reads one)
    family_options: tuple[tuple[str, Any], ...] = ()
    mode: str = "fixed"
    rho: float | Mapping[str, float] = 0.0  # initial (cross_reg) or frozen (fixed) values
    K: int = 4  # samples per rho step of a stochastic family (never the evaluation's count)
    # noise samples averaged at every validation and test evaluation of a model that is
    # stochastic at evaluation (1 pass for a deterministic one), the same for every strategy:
    # apart from K, so that a cheap rho step (small K) is not also scored on fewer samples
    eval_samples: int = 4
    r: int = 1  # one rho step every r theta steps
    rho_optimizer: str = "adam"
    rho_lr: float = 1e-2
    reg_batch_size: int = 128
    # family "noise" only: where the noise enters a normalised layer (`NOISE_AT`)
    noise_at: str = "after_affine"
    # theta training
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    epochs: int = 20
    batch_size: int = 128
    eval_batch_size: int = 1024
    # TrivialAugmentWide (Mueller & Hutter 2021) on every training batch, image datasets only
    # (`trainables.trivial_augment`); the trivial_augment strategy turns it on
    trivial_augment: bool = False
    # run
    seed: int = 0
    members: int = 1  # a deep ensemble of this many networks in one trial (mode='fixed' only)
    device: str = "auto"
    bf16: bool = False
    channels_last: bool = False
    # the share of the device the trial holds (GPUs, else the node's CPUs), for device_seconds;
    # None: 1.0 (a plain run_trial); under Ray Tune train_fn fills it from the trial's resources
    device_share: float | None = None
    checkpoint_every: int = 0  # epochs between checkpoints; 0 = four per run (and the last)
    observe_every: int = 0  # epochs between test-split observations; 0 = about ten per run
    # labels copied into every report row
    experiment: str = ""
    strategy: str = ""
    role: str = "single"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | TrialConfig) -> TrialConfig:
        """The validated config of a Ray Tune dict (a TrialConfig is returned as it is)."""
        if isinstance(values, TrialConfig):
            return values
        if not isinstance(values, Mapping):
            raise ConfigError(f"a trial config must be a mapping, got {type(values).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = without_retired(values)
        options = dict(values.pop("family_options", ()) or ())
        unknown = sorted(set(values) - set(known))
        if unknown:
            declared = family_options(values.get("family", cls.family))
            for name in unknown:
                if name in declared:
                    options[name] = values.pop(name)
            unknown = sorted(set(values) - set(known))
            foreign = foreign_option(unknown, values.get("family", cls.family))
            if foreign:
                raise ConfigError(foreign)
            if unknown:
                raise ConfigError(f"unknown config key(s) {unknown}; known keys: {sorted(known)}"
                                  + (f"; family options: {sorted(declared)}" if declared else ""))
        hints = typing.get_type_hints(cls)
        kwargs = {name: coerce(name, value, hints[name]) for name, value in values.items()}
        declared = family_options(kwargs.get("family", cls.family)) if options else {}
        kwargs["family_options"] = tuple(sorted(
            (name, declared[name].coerce(value) if name in declared else value)
            for name, value in options.items()))
        config = cls(**kwargs)
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        """Flat: the family's options beside the fields, as a Ray config holds them."""
        d = dataclasses.asdict(self)
        if isinstance(self.rho, Mapping):
            d["rho"] = dict(self.rho)
        d.pop("family_options")
        d.update(dict(self.family_options))
        return d

    def option(self, name: str) -> Any:
        """The family option `name`: this config's value, else the family's declared default."""
        values = dict(self.family_options)
        if name in values:
            return values[name]
        from .families import get

        declared = get(self.family).option(name)
        if declared is None:
            raise ConfigError(f"{name}: not an option of family {self.family!r}")
        return declared.default

    def replace(self, **changes: Any) -> TrialConfig:
        return TrialConfig.from_dict({**self.to_dict(), **changes})

    @property
    def learned(self) -> bool:
        """rho has its own optimiser on the regularization split (cross_reg, t1t2)."""
        return self.mode in ("cross_reg", "t1t2")

    @property
    def checkpoint_interval(self) -> int:
        return checkpoint_interval(self.checkpoint_every, self.epochs)

    @property
    def observe_interval(self) -> int:
        return observe_interval(self.observe_every, self.epochs)

    def validate(self) -> None:
        """Every check: the fields' own (`check_fields`) and the family's rules."""
        self.check_fields()
        # the family's own rules (importing the registry imports torch: not at module level)
        from .families import get

        get(self.family).check(self)

    def check_fields(self) -> None:
        """The checks that need no registry (and no torch): types aside, each field's range."""
        def need(cond: bool, key: str, why: str) -> None:
            if not cond:
                raise ConfigError(f"{key}={getattr(self, key)!r}: {why}")

        need(self.mode in MODES, "mode", f"unknown mode; choose one of {MODES}")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"choose one of {OPTIMIZERS}")
        need(self.rho_optimizer in OPTIMIZERS, "rho_optimizer", f"choose one of {OPTIMIZERS}")
        need(self.role in ROLES, "role", f"choose one of {ROLES}")
        need(self.pool in POOLS, "pool", f"choose one of {POOLS}")
        need(self.pool_ratio is None or self.pool == "fractional", "pool_ratio",
             "is the reduction factor of pool='fractional'; leave it None otherwise")
        need(self.pool_ratio is None or 1 < self.pool_ratio <= 2, "pool_ratio",
             "must lie in (1, 2] (input size / output size of each fractional max-pooling)")
        need(self.noise_at in NOISE_AT, "noise_at", f"choose one of {NOISE_AT}")
        need(self.family == "noise" or self.noise_at == "after_affine", "noise_at",
             "applies to family='noise' only; leave it at its default otherwise")
        need(not (self.learned and self.fold == -1), "fold",
             f"mode={self.mode!r} needs a regularization split (fold=-1, a refit, has none)")
        for key in ("K", "eval_samples", "r", "epochs", "batch_size", "reg_batch_size", "eval_batch_size",
                    "n_folds", "members"):
            need(getattr(self, key) >= 1, key, "must be >= 1")
        need(self.members == 1 or self.mode == "fixed", "members",
             "a deep ensemble trains fixed-rho networks (mode='fixed'); cross_reg ensembles are "
             "not supported")
        need(self.device_share is None
             or (math.isfinite(self.device_share) and self.device_share > 0), "device_share",
             "must be > 0 (the GPUs or the share of the node's CPUs the trial holds) or None")
        need(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0 (0 = four per run)")
        need(self.observe_every >= 0, "observe_every", "must be >= 0 (0 = about ten per run)")
        need(self.width is None or self.width >= 1, "width", "must be >= 1 or None")
        need(self.depth is None or self.depth >= 0, "depth", "must be >= 0 or None")
        for key in ("lr", "rho_lr"):
            need(math.isfinite(getattr(self, key)) and getattr(self, key) > 0, key, "must be > 0")
        need(0 <= self.weight_decay < math.inf, "weight_decay", "must be >= 0")
        need(0 <= self.momentum < 1, "momentum", "must lie in [0, 1)")
        need(0 <= self.dropout < 1, "dropout", "must lie in [0, 1)")
        need(0 < self.reg_fraction < 1, "reg_fraction", "must lie in (0, 1)")
        need(self.n_train is None or self.n_train >= 4, "n_train", "must be >= 4 or None")
        need(math.isfinite(self.label_noise) and 0 <= self.label_noise < 1, "label_noise",
             "must lie in [0, 1)")
        if self.n_folds > 1:
            need(self.fold is not None and -1 <= self.fold < self.n_folds, "fold",
                 f"with n_folds={self.n_folds} fold must be -1 (refit) or in [0, {self.n_folds})")
        else:
            need(self.fold in (None, -1), "fold", "fold needs n_folds > 1 (or -1 for a refit)")
        rho = self.rho if isinstance(self.rho, Mapping) else {"*": self.rho}
        for name, value in rho.items():
            if not math.isfinite(value):
                raise ConfigError(f"rho[{name!r}]={value!r}: regularization values must be finite")
        if self.device not in ("auto", "cpu") and not self.device.startswith(("cuda", "mps")):
            raise ConfigError(f"device={self.device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'")


#: keys that were TrialConfig fields and became family `pair`'s options (2026-12-06), at the
#: defaults every config then held: a run written before holds them whatever its family, and
#: must still resume (Tune restores its trials' configs) and load
RETIRED_FIELDS = {"pair_penalty": "l2", "pair_direction": "agree"}


def without_retired(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` without the retired fields an older config holds at their old defaults, where
    its family is not the one that declares them now."""
    if values.get("family", TrialConfig.family) == "pair":
        return dict(values)
    return {k: v for k, v in values.items() if k not in RETIRED_FIELDS or v != RETIRED_FIELDS[k]}


def foreign_option(keys: Iterable[str], family: Any) -> str | None:
    """Where one of `keys` is an option of other registered families, not of `family`: the
    sentence that says whose knob it is (`pair_penalty: an option of family 'pair', not of
    family 'noise'`); else None."""
    from .families import FAMILIES

    for key in sorted(keys):
        owners = [repr(f.name) for f in FAMILIES.values() if f.option(key) is not None]
        if owners:
            return f"{key}: an option of family {' or '.join(owners)}, not of family {family!r}"
    return None


def family_options(family: Any) -> dict[str, Any]:
    """The options (`trainables.options.Option`) family `family` declares, by name: keys a
    config may set beside its fields while it has that family; none for an unknown family
    (validate says so)."""
    if not isinstance(family, str):
        return {}
    from .families import get

    try:
        declared = get(family).options
    except ConfigError:
        return {}
    clash = {o.name for o in declared} & {f.name for f in dataclasses.fields(TrialConfig)}
    if clash:
        raise ConfigError(f"family {family!r}: option(s) {sorted(clash)} would shadow the trial "
                          "config's own field(s) of that name; rename them in the family's file")
    return {o.name: o for o in declared}


__all__ = [
    "MODES",
    "NOISE_AT",
    "PER_TRIAL_FIELDS",
    "POOLS",
    "ConfigError",
    "TrialConfig",
    "checkpoint_interval",
    "family_options",
    "foreign_option",
    "observe_interval",
    "without_retired",
]
