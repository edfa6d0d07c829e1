"""cross_reg: one run per seed that learns rho on the regularization split (the method:
Brito, "Cross-regularization: Adaptive Model Complexity through Validation Gradients",
ICML 2025).

Its budget is (r, K): a rho step every r theta steps on K noise samples. Its own settings are
sweep knobs too, for the fidelity study (issue 19): the rho optimiser's learning rate
(`rho_lr`), where rho starts (`rho_init`) and where the noise enters a normalised layer
(`noise_at`, a trial field), each a `--budget` away and swept as a product with (r, K).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from ray import tune

from harness.experiments import ExperimentSpec
from harness.strategies.common import Strategy, StrategyContext, knob_label, single_run

NAME = "cross_reg"


def build(ctx: StrategyContext) -> tune.Tuner:
    """A single trial in mode=cross_reg, rho starting at the spec's `rho_init` per layer."""
    return single_run(ctx)


#: the (r, K) points of a sweep: from the paper's setting (r=1, K=4) to a tenth of its
#: overhead (K/r = 0.1), where its "about 10% overhead" claim lives
SWEEP_R_K = ((1, 4), (4, 4), (10, 4), (10, 1), (40, 4))


#: cross-reg's own settings, swept only when `--budget` names them: (field, label prefix)
SETTINGS = (("rho_lr", "lr"), ("rho_init", "s"), ("noise_at", ""))
BUDGET_FIELDS = ("r", "K", *(f for f, _ in SETTINGS))


def _setting_label(prefix: str, value: Any) -> str:
    """`lr0.001`, `s0.3`, and a placement by its first word (`before_affine` -> `before`)."""
    if isinstance(value, str):
        return value.split("_")[0]
    return knob_label(prefix, value)


def _own(spec: ExperimentSpec, field: str) -> Any:
    return getattr(spec, field) if hasattr(spec, field) else getattr(spec.trial, field)


def sweep_points(spec: ExperimentSpec, budgets: Mapping[str, Sequence[Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The default (r, K) pairs, or every pair of the sweep's `r` and `K` values (a value
    missing from the sweep is the spec's own); the spec's own pair is always included.

    With `rho_lr`, `rho_init` or `noise_at` in the sweep: the product of the (r, K) pairs
    (the spec's own alone unless `r` or `K` is given) with the given settings, labelled by
    what the sweep varies (`r10K1_lr0.001`, `lr0.001_s0.3_before`); the point at the spec's
    own values is always included (it is the run's reference).
    """
    settings = [(f, p) for f, p in SETTINGS if f in budgets]
    rk_given = "r" in budgets or "K" in budgets
    own = (spec.trial.r, spec.trial.K)
    if rk_given:
        pairs = [(int(r), int(k)) for r in budgets.get("r", (spec.trial.r,))
                 for k in budgets.get("K", (spec.trial.K,))]
    else:
        pairs = [own] if settings else list(SWEEP_R_K)
    if not settings:
        if own not in pairs:
            pairs.insert(0, own)
        return [(f"r{r}K{k}", {"r": r, "K": k}) for r, k in pairs]
    combos = [((r, k), values) for r, k in pairs
              for values in itertools.product(*(budgets[f] for f, _ in settings))]
    own_combo = (own, tuple(_own(spec, f) for f, _ in settings))
    if own_combo not in combos:
        combos.insert(0, own_combo)
    out = []
    for (r, k), values in combos:
        parts = [f"r{r}K{k}"] if rk_given else []
        parts += [_setting_label(p, v) for (_, p), v in zip(settings, values)]
        out.append(("_".join(parts), {"r": r, "K": k, **{f: v for (f, _), v in zip(settings, values)}}))
    return out


def expected_trials(spec: ExperimentSpec) -> int:
    return 1


STRATEGY = Strategy(
    name=NAME,
    description="one run per seed, rho learned on the regularization split",
    learns_rho=True,
    build=build,
    expected_trials=expected_trials,
    budget_fields=BUDGET_FIELDS,
    sweep_points=sweep_points,
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
