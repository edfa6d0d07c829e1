"""tpe: a model-based search, Optuna's Tree-structured Parzen Estimator (Bergstra et al.,
NeurIPS 2011) through Ray Tune's OptunaSearch, with ASHA stopping poor trials early (the
"TPE + ASHA" combination most users run).

TPE rather than BOHB: BOHB in Ray Tune needs `hpbandster` and `ConfigSpace`, whose
hpbandster has had no release since 2020, while Optuna is actively maintained (and needs
nothing else). Pinned: `TPESampler(seed=run seed)` so two runs with the same seed propose
the same configs, the same log-uniform per-layer space and number of samples as ASHA, ASHA
as in the `asha` strategy, at most 2 trials in flight (TPE learns from finished ones). Needs
the `optuna` package (`pip install crossreg-harness[rivals]`); the preflight says so.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from harness.errors import SpecError
from harness.experiments import ExperimentSpec
from harness.strategies.asha import BUDGET_KNOBS
from harness.strategies.asha import scheduler as asha_scheduler
from harness.strategies.common import (
    SAMPLER_SEED_OFFSET,
    Strategy,
    StrategyContext,
    base_config,
    count_of,
    knobs_sweep,
    log_uniform_rho,
    run_config,
    sampled_space,
    search_range_configs,
    tune_config,
)

NAME = "tpe"
MAX_CONCURRENT = 2


def searcher(ctx: StrategyContext) -> Any:
    try:
        import optuna
        from ray.tune.search.optuna import OptunaSearch
    except ImportError as e:
        raise SpecError(f"strategy tpe needs optuna ({e}); pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per study and trial
    return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=SAMPLER_SEED_OFFSET + ctx.seed))


def build(ctx: StrategyContext) -> tune.Tuner:
    from ray.tune.search import ConcurrencyLimiter

    spec = ctx.spec
    return tune.Tuner(
        ctx.trainable,
        param_space=base_config(ctx, role="member", rho=log_uniform_rho(ctx)),
        tune_config=tune_config(
            metric=spec.metric,
            mode=spec.mode,
            search_alg=ConcurrencyLimiter(searcher(ctx), max_concurrent=MAX_CONCURRENT),
            scheduler=asha_scheduler(ctx),
            num_samples=spec.asha_samples,
            reuse_actors=True,
        ),
        run_config=run_config(ctx),
    )


def preflight_configs(spec: ExperimentSpec, seed: int) -> list[dict[str, Any]]:
    try:
        import optuna  # noqa: F401
    except ImportError as e:
        raise SpecError(f"strategy tpe needs optuna ({e}): pip install optuna") from None
    return search_range_configs(NAME)(spec, seed)


STRATEGY = Strategy(
    name=NAME,
    description="Optuna's TPE sampler with ASHA early stopping, ASHA's space and samples",
    learns_rho=False,
    build=build,
    expected_trials=count_of("asha_samples"),
    budget_fields=tuple(field for field, _, _ in BUDGET_KNOBS),  # ASHA's: it stops with ASHA
    sweep_points=knobs_sweep(*BUDGET_KNOBS),
    preflight_configs=preflight_configs,
    describe_space=sampled_space("asha_samples"),
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
