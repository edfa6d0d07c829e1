"""What one experiment is: the trial every strategy trains, plus the budget of each search.

An `ExperimentSpec` holds a `trainables.TrialConfig` (`trial`): the model, data split, epochs,
batch size, optimiser and regularizer family that the fairness rules require every strategy to
share. Each of those fields is declared once, there, with one default. The spec adds only
what is the harness's own: the strategies and seeds, where cross-reg starts and what `fixed`
freezes, the searched range, each search's budget, and the resources per trial. A strategy
derives its trials from `trial` with `dataclasses.replace`, setting only the per-trial fields
(`PER_TRIAL_FIELDS`: mode, rho, seeds, folds, labels).

Field names are flat for users: `--set epochs=40` and a TOML `epochs = 40` reach the trial,
`--set pbt_population=4` the spec (`replace` routes them). The spec is validated when it is
built; names that point into a registry (strategies, dataset, model, family) are checked by
the preflight (harness.run.preflight), which imports those registries, so that building a spec
stays cheap (no Ray, no torch).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.contract import PROTOCOLS, RHO_PREFIX, VAL_ACC, VAL_LOSS
from harness.errors import SpecError
from trainables.config import (
    PER_TRIAL_FIELDS,
    ConfigError,
    TrialConfig,
    family_options,
    foreign_option,
)

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class SearchSpace:
    """What a search over rho searches, declared once per spec (`ExperimentSpec.search_space`)
    so that no search can quietly search a different space from another: the rho names
    searched one by one (`()`: one value shared by every name), the range and the scale.

    Plain data (no Ray): `harness.strategies.common` turns it into Tune's domains, grid CV
    into its grid, the run's metadata into one line per strategy.
    """

    names: tuple[str, ...]  # searched separately; () = one shared scalar
    low: float
    high: float
    log: bool = True  # log-uniform (every search of rho here), else uniform

    @property
    def per_layer(self) -> bool:
        return bool(self.names)

    def value(self, values: Sequence[float]) -> Any:
        """A point of the space as the trainable takes `rho`: one value per name as a dict,
        or the shared scalar (`values` then has one entry)."""
        if self.names:
            if len(values) != len(self.names):
                raise ValueError(f"{len(values)} values for the {len(self.names)} names "
                                 f"{', '.join(self.names)}")
            return {n: float(v) for n, v in zip(self.names, values)}
        (only,) = values
        return float(only)

    def describe(self) -> str:
        """One line for people: `rho/sigma_0, rho/sigma_1 per layer, log-uniform [0.01, 1]`."""
        who = (", ".join(f"{RHO_PREFIX}{n}" for n in self.names) + " per layer") if self.names \
            else "rho shared"
        scale = "log-uniform" if self.log else "uniform"
        return f"{who}, {scale} [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment: the shared trial plus the budget of every search strategy.

    Every default is explicit here or in `TrialConfig`; the registry in `harness.experiments.registry`
    states the values of each named experiment on top of them.
    """

    name: str
    description: str = ""
    task: str = "classification"  # decides the selection metric: val_acc/max or val_loss/min
    trial: TrialConfig = field(default_factory=TrialConfig)  # what every strategy trains
    # strategies and seeds (the seed is also the split seed)
    strategies: tuple[str, ...] = ("cross_reg", "pbt", "grid_cv", "asha")
    seeds: int = 3
    # which rows every final model trains theta on (analysis.contract.PROTOCOLS): equal_rows,
    # the training split for every strategy (a fair comparison: no method gets more data);
    # full_pool, the whole pool for the strategies that need no held-out rows (as a
    # practitioner would train them), the training split for the others
    protocol: str = "equal_rows"
    # rho: where cross_reg starts (> 0: learned in log space or by scaling), what `fixed`
    # freezes (0 = unregularised), and the log-uniform range the searches draw from (None:
    # the family's own range)
    rho_init: float = 0.1
    fixed_rho: float = 0.0
    rho_low: float | None = None
    rho_high: float | None = None
    # PBT and ASHA search each rho of a family separately when it has at most this many
    # (noise on a 2-layer MLP: sigma_0, sigma_1); more (a ResNet's 20 noise points), or 0,
    # and they search one value shared by all
    max_searched_rhos: int = 4
    # search budgets
    pbt_population: int = 8
    pbt_interval: int = 0  # epochs between exploit/explore; 0 = about 5% of epochs, min 1
    pbt_quantile: float = 0.25
    pbt_resample: float = 0.25
    asha_samples: int = 16
    asha_grace_period: int = 1
    asha_reduction_factor: int = 3  # hyperband and tpe share ASHA's samples and factor
    random_samples: int = 16
    ensemble_members: int = 5  # deep_ensemble's M
    grid_values: tuple[float, ...] = (0.01, 0.1, 1.0)  # shared scalar, log-spaced
    # grid CV over every searched rho separately (the product of grid_values over the layer
    # names, as the sampled searches search them) instead of one shared value: G^L points x
    # cv_folds trials, so off by default to keep the default grid affordable
    grid_per_layer: bool = False
    cv_folds: int = 5  # 1 = a single hold-out split (the regularization split)
    # resources and robustness
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2  # a failing trial is retried from its last checkpoint this often

    def __post_init__(self) -> None:
        _validate(self)

    # --- derived values -------------------------------------------------------------

    @property
    def epochs(self) -> int:
        return self.trial.epochs

    @property
    def metric(self) -> str:
        """The validation column every search selects on (never a test column)."""
        return VAL_ACC if self.task == "classification" else VAL_LOSS

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
    def grace_period(self) -> int:
        """ASHA's grace period in epochs, at most `epochs` (so `--set epochs=1` still runs)."""
        return min(self.asha_grace_period, self.epochs)

    def search_range(self) -> tuple[float, float]:
        """The log-uniform range PBT and ASHA draw rho from: the spec's, else the family's."""
        return self._search_range

    # The search space is resolved once per spec object and kept in its __dict__ (the
    # family's range needs its registry, the rho names a CPU model: both import torch). A
    # pickled spec carries what it resolved, so the driver resolves it (`search_space()`)
    # before it sends the spec to a unit's driving task, which then never imports torch.
    # `replace` makes a new object, which resolves afresh.
    @functools.cached_property
    def _search_range(self) -> tuple[float, float]:
        low, high = self.rho_low, self.rho_high
        if low is None or high is None:
            import trainables.families as families

            default = families.get(self.trial.family).search_range or (1e-2, 1.0)
            low, high = default[0] if low is None else low, default[1] if high is None else high
        if not 0 < low < high:
            raise SpecError(f"rho_low={low!r}, rho_high={high!r}: need 0 < rho_low < rho_high")
        return low, high

    def layer_names(self) -> tuple[str, ...]:
        """The rho names PBT and ASHA search one by one; () means one shared scalar.

        The family names them on the model (`trainables.rho_names`); a family with more than
        `max_searched_rhos` of them is searched through one shared value.
        """
        return self._layer_names

    @functools.cached_property
    def _layer_names(self) -> tuple[str, ...]:
        names = _rho_names(self.trial)
        return names if 0 < len(names) <= self.max_searched_rhos else ()

    def search_space(self) -> SearchSpace:
        """The one declaration of what every search of this spec searches (PBT, PB2, ASHA,
        random, HyperBand, TPE and grid CV all read it): which rho names, the range, the
        scale."""
        low, high = self.search_range()
        return SearchSpace(names=self.layer_names(), low=low, high=high, log=True)

    def per_layer(self, value: Any) -> Any:
        """`value` for every searched name as a dict, or `value` itself for a shared scalar."""
        names = self.layer_names()
        return {n: value for n in names} if names else value

    def to_dict(self) -> dict[str, Any]:
        """The spec as flat, JSON-ready fields (metadata.json): the trial's beside the spec's."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "trial"}
        d.update({k: v for k, v in self.trial.to_dict().items() if k not in PER_TRIAL_FIELDS})
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_fields(cls, name: str, **fields: Any) -> ExperimentSpec:
        """A spec from flat fields, the trial's routed into `trial` (as `replace` does)."""
        return cls(name=name).replace(**fields)

    def replace(self, **changes: Any) -> ExperimentSpec:
        """A copy with `changes`; a trial field's name (epochs, lr, dataset...) changes the
        trial. Values are not type-checked here (overrides.apply does that for users)."""
        spec_fields = {f.name for f in dataclasses.fields(self)}
        own = {k: v for k, v in changes.items() if k in spec_fields}
        trial = {k: v for k, v in changes.items() if k not in spec_fields}
        fields = set(trial_field_names())
        options = {k: trial.pop(k) for k in list(trial) if k not in fields}
        base = own.get("trial", self.trial)
        if trial.get("family", base.family) != base.family and base.family_options:
            kept = family_options(trial["family"])  # another family: its options only
            trial["family_options"] = tuple((k, v) for k, v in base.family_options if k in kept)
            base = dataclasses.replace(base, family_options=trial["family_options"])
        if options:  # the family's own knobs: keys of the family the trial will have
            family = trial.get("family", base.family)
            refuse_unknown_keys(options, family, family_options(family))
            trial["family_options"] = tuple(sorted({**dict(base.family_options), **options}.items()))
        if trial:
            own["trial"] = dataclasses.replace(base, **trial)
        return dataclasses.replace(self, **own)

    # --- the one place a spec becomes a trainable config ---------------------------

    def trial_config(self, strategy: str, seed: int, *, learned: bool,
                     **overrides: Any) -> dict[str, Any]:
        """The config of one trial of `strategy` for `seed`, as `trainables` expects it.

        The shared trial with the per-trial fields set: the mode (cross_reg learns rho, the
        others freeze it), the initial or frozen `rho` (overrides may put a search domain
        there), the seeds, the labels and, for grid CV, the fold keys.
        """
        config = dataclasses.replace(
            self.trial, mode="cross_reg" if learned else "fixed", seed=seed, split_seed=seed,
            experiment=self.name, strategy=strategy, role="single").to_dict()
        config["rho"] = self.per_layer(self.rho_init if learned else self.fixed_rho)
        config.update(overrides)
        return config

    def smoke(self) -> ExperimentSpec:
        """A shrunken copy for a fast end-to-end check: few epochs, tiny searches, and the
        test split observed at the last epoch only (observing MNIST-1D's 10,000 test rows
        costs a smoke trial ~20x its training)."""
        epochs = min(self.epochs, 3)
        return self.replace(
            name=f"{self.name}-smoke",  # its rows must never pool with the real experiment's
            epochs=epochs,
            observe_every=epochs,
            n_train=min(self.trial.n_train or 300, 300),
            pbt_population=min(self.pbt_population, 2),
            pbt_interval=2,  # one exploit round: each round restarts the members' processes
            asha_samples=min(self.asha_samples, 2),
            random_samples=min(self.random_samples, 2),
            ensemble_members=min(self.ensemble_members, 2),
            asha_grace_period=1,
            grid_values=self.grid_values[:2],
            cv_folds=min(self.cv_folds, 2),
            seeds=1,
        )


@functools.lru_cache(maxsize=64)
def _rho_names(trial: TrialConfig) -> tuple[str, ...]:
    import trainables

    probe = dataclasses.replace(trial, mode="fixed", rho=0.0)  # names do not depend on values
    try:
        return trainables.rho_names(probe)
    except ConfigError as e:
        raise SpecError(str(e)) from None


def trial_field_names() -> tuple[str, ...]:
    """The trial's fields an experiment sets (every one but the per-trial ones; a family's
    options are keys of their own, `family_options`)."""
    return tuple(f.name for f in dataclasses.fields(TrialConfig)
                 if f.name not in PER_TRIAL_FIELDS and f.name != "family_options")


def field_types() -> dict[str, Any]:
    """Every key a user can set, flat, with its type (the source of override coercion)."""
    hints = {k: v for k, v in typing.get_type_hints(ExperimentSpec).items() if k != "trial"}
    trial_hints = typing.get_type_hints(TrialConfig)
    hints.update({k: trial_hints[k] for k in trial_field_names()})
    return hints


def refuse_unknown_keys(keys: Iterable[str], family: Any, declared: Mapping[str, Any]) -> None:
    """A SpecError for keys that are neither a field nor one of `declared` (the options of
    `family`): a key of another family's named as that family's, else every unknown key
    listed beside the known ones. `--set`, TOML and `replace` refuse in these words."""
    hints = field_types()
    unknown = sorted(set(keys) - set(hints) - set(declared))
    foreign = foreign_option(unknown, family)
    if foreign:
        raise SpecError(f"{foreign} (--set family=... first)")
    if unknown:
        raise SpecError(f"unknown experiment key(s) {', '.join(unknown)}; known keys: "
                        f"{', '.join([*hints, *declared])}")


def _validate(spec: ExperimentSpec) -> None:
    def need(cond: bool, key: str, why: str) -> None:
        if not cond:
            raise SpecError(f"{key}={getattr(spec, key)!r}: {why}")

    need(bool(spec.name) and "/" not in spec.name and not spec.name.startswith("."), "name",
         "must be a non-empty name usable as a directory")
    need(spec.task in TASKS, "task", f"choose one of {', '.join(TASKS)}")
    need(spec.protocol in PROTOCOLS, "protocol", f"choose one of {', '.join(PROTOCOLS)}")
    try:
        spec.trial.check_fields()
    except ConfigError as e:
        raise SpecError(str(e)) from None
    need(len(spec.strategies) > 0, "strategies", "name at least one strategy")
    need(len(set(spec.strategies)) == len(spec.strategies), "strategies", "lists a strategy twice")
    for key in ("seeds", "pbt_population", "asha_samples", "asha_grace_period", "cv_folds",
                "random_samples", "ensemble_members"):
        need(getattr(spec, key) >= 1, key, "must be >= 1")
    need(spec.pbt_population >= 2, "pbt_population", "PBT needs a population of at least 2")
    need(spec.pbt_interval >= 0, "pbt_interval", "must be >= 0 (0 = about 5% of epochs)")
    need(spec.max_searched_rhos >= 0, "max_searched_rhos", "must be >= 0")
    need(spec.asha_reduction_factor >= 2, "asha_reduction_factor", "must be >= 2")
    need(spec.max_failures >= 0, "max_failures", "must be >= 0")
    for key in ("pbt_quantile", "pbt_resample"):
        need(0 < getattr(spec, key) < 1, key, "must lie in (0, 1)")
    need(spec.pbt_quantile <= 0.5, "pbt_quantile", "must be at most 0.5 (bottom and top quantiles)")
    for key in ("rho_init", "rho_low", "rho_high"):
        value = getattr(spec, key)
        need(value is None or (math.isfinite(value) and value > 0), key,
             "must be a finite number > 0")
    if spec.rho_low is not None and spec.rho_high is not None:
        need(spec.rho_low < spec.rho_high, "rho_high", f"must exceed rho_low={spec.rho_low}")
    need(math.isfinite(spec.fixed_rho) and spec.fixed_rho >= 0, "fixed_rho", "must be >= 0")
    need(len(spec.grid_values) >= 1, "grid_values", "name at least one value")
    need(all(math.isfinite(v) and v >= 0 for v in spec.grid_values), "grid_values",
         "values must be finite and >= 0")
    need(len(set(spec.grid_values)) == len(spec.grid_values), "grid_values", "lists a value twice")
    need(spec.cpus_per_trial > 0, "cpus_per_trial", "must be > 0")
    need(spec.gpus_per_trial >= 0, "gpus_per_trial", "must be >= 0")
    need(spec.gpus_per_trial <= 1 or float(spec.gpus_per_trial).is_integer(), "gpus_per_trial",
         "above 1 must be a whole number of GPUs")


__all__ = ["TASKS", "ExperimentSpec", "SearchSpace", "field_types", "refuse_unknown_keys",
           "trial_field_names"]
