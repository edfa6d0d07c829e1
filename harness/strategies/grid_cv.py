"""grid_cv: k-fold cross-validation over a log grid of one shared rho, then a refit.

For each grid value and each fold a trial trains on the other folds of the training pool
and validates on its fold (`n_folds=k, fold=i, role="fold"`); the value with the best mean
validation metric across folds wins, and one more trial refits on the whole pool with it
(`fold=-1, role="refit"`): that refit is the strategy's final model. k=1 is plain hold-out
on the regularization split. Ties go to the smaller value (the weaker regularizer).

The refit can only be configured once every fold has finished, yet it must live in the
same Tune experiment `grid_cv-seed<k>` as its folds (one experiment per strategy and seed,
docs/contract.md) so that `Tuner.restore` resumes the whole strategy as one unit. A small
`Searcher` does this: it hands out the G*k fold configs, waits, then hands out the refit.
Its state (which folds reported what, whether the refit was issued) is saved with the Tune
experiment as JSON (never pickle: a run directory someone hands you must not run code through
our own state), so a resumed run neither repeats folds nor issues a second refit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ray import tune
from ray.tune.search import Searcher

from harness.experiments import ExperimentSpec
from harness.strategies.common import (
    Strategy,
    StrategyContext,
    base_config,
    run_config,
    tune_config,
)

NAME = "grid_cv"


def select(scores: dict[tuple[float, int], float], values: tuple[float, ...], mode: str) -> float:
    """The grid value with the best mean fold score (NaN/failed folds count as worst)."""
    def mean_score(v: float) -> float:
        s = [scores.get((v, f), math.nan) for f in sorted({f for (u, f) in scores if u == v})]
        s = [x if math.isfinite(x) else (-math.inf if mode == "max" else math.inf) for x in s]
        return sum(s) / len(s) if s else (-math.inf if mode == "max" else math.inf)

    ordered = sorted(values)  # ties -> the smaller value (first in ascending order)
    if mode == "max":
        return max(ordered, key=lambda v: (mean_score(v), -ordered.index(v)))
    return min(ordered, key=lambda v: (mean_score(v), ordered.index(v)))


class CVGridSearcher(Searcher):
    """Fold trials first (every grid value x every fold), then one refit with the winner."""

    def __init__(self, base: dict[str, Any], values: tuple[float, ...], n_folds: int,
                 metric: str, mode: str, per_layer: Any) -> None:
        super().__init__(metric=metric, mode=mode)
        self.base, self.values, self.n_folds = dict(base), tuple(values), int(n_folds)
        self._per_layer = per_layer  # value -> rho as the trainable expects it
        self.pending = [(v, f) for v in self.values for f in range(self.n_folds)]
        self.assigned: dict[str, tuple[float, int]] = {}
        self.scores: dict[tuple[float, int], float] = {}
        self.refit_trial: str | None = None
        self.chosen: float | None = None

    def _fold_config(self, value: float, fold: int) -> dict[str, Any]:
        folds = {"n_folds": self.n_folds, "fold": fold} if self.n_folds > 1 else {}
        return {**self.base, **folds, "rho": self._per_layer(value), "role": "fold"}

    def suggest(self, trial_id: str) -> dict[str, Any] | None:  # or Searcher.FINISHED
        if self.pending:
            value, fold = self.pending.pop(0)
            self.assigned[trial_id] = (value, fold)
            return self._fold_config(value, fold)
        if self.refit_trial is not None:
            return Searcher.FINISHED  # type: ignore[return-value]  # Tune's own sentinel
        if len(self.scores) < len(self.values) * self.n_folds:
            return None  # folds still running: ask again later
        self.chosen = select(self.scores, self.values, self.mode)
        self.refit_trial = trial_id
        return {**self.base, "n_folds": self.n_folds, "fold": -1,
                "rho": self._per_layer(self.chosen), "role": "refit"}

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        key = self.assigned.get(trial_id)
        if key is None:
            return
        score = math.nan
        if result and not error and self.metric in result:
            score = float(result[self.metric])
        self.scores[key] = score

    def save(self, checkpoint_path: str) -> None:
        """The search state as JSON (tuple keys as lists; NaN scores as null)."""
        state = {
            "base": self.base, "values": list(self.values), "n_folds": self.n_folds,
            "pending": [list(p) for p in self.pending],
            "assigned": {t: list(k) for t, k in self.assigned.items()},
            "scores": [[v, f, s if math.isfinite(s) else None]
                       for (v, f), s in self.scores.items()],
            "refit_trial": self.refit_trial, "chosen": self.chosen,
            "metric": self._metric, "mode": self._mode,
        }
        with open(checkpoint_path, "w") as f:
            json.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            state = json.load(f)
        self.base, self.values = dict(state["base"]), tuple(state["values"])
        self.n_folds = int(state["n_folds"])
        self.pending = [(float(v), int(k)) for v, k in state["pending"]]
        self.assigned = {t: (float(v), int(k)) for t, (v, k) in state["assigned"].items()}
        self.scores = {(float(v), int(k)): math.nan if s is None else float(s)
                       for v, k, s in state["scores"]}
        self.refit_trial, self.chosen = state["refit_trial"], state["chosen"]
        self._metric, self._mode = state["metric"], state["mode"]


def _scalar(value: float) -> float:
    return float(value)


def build(ctx: StrategyContext) -> tune.Tuner:
    spec = ctx.spec
    base = base_config(ctx, role="fold")
    searcher = CVGridSearcher(base, spec.grid_values, spec.cv_folds, spec.metric, spec.mode,
                              per_layer=_scalar)
    return tune.Tuner(
        ctx.trainable,
        tune_config=tune_config(
            metric=spec.metric,
            mode=spec.mode,
            search_alg=searcher,
            num_samples=expected_trials(spec),
            reuse_actors=True,
        ),
        run_config=run_config(ctx),
    )


#: grid sizes of a sweep: log-spaced values over the search range, the spec's folds each
SWEEP_GRID_SIZES = (3, 5, 9)


def sweep_points(spec: ExperimentSpec, budgets: Mapping[str, Sequence[Any]]) -> list[tuple[str, dict[str, Any]]]:
    low, high = spec.search_range()
    points = []
    for n in budgets.get("grid_size", SWEEP_GRID_SIZES):
        values = tuple(float(v) for v in np.geomspace(low, high, int(n)))
        points.append((f"G{int(n)}", {"grid_values": values}))
    return points


def expected_trials(spec: ExperimentSpec) -> int:
    """Every grid value on every fold, plus the refit."""
    return len(spec.grid_values) * spec.cv_folds + 1


def preflight_configs(spec: ExperimentSpec, seed: int) -> list[dict[str, Any]]:
    """A fold trial at every grid value, and the refit (no validation split)."""
    folds = {"n_folds": spec.cv_folds} if spec.cv_folds > 1 else {}
    fold_configs = [spec.trial_config(NAME, seed, learned=False, role="fold", rho=_scalar(v),
                                      **folds, **({"fold": 0} if folds else {}))
                    for v in spec.grid_values]
    refit = spec.trial_config(NAME, seed, learned=False, role="refit", n_folds=spec.cv_folds,
                              fold=-1, rho=_scalar(spec.grid_values[0]))
    return [*fold_configs, refit]


STRATEGY = Strategy(
    name=NAME,
    description="k-fold CV over a log grid of one shared rho, then a refit on the whole pool",
    learns_rho=False,
    build=build,
    expected_trials=expected_trials,
    budget_fields=("grid_size",),
    sweep_points=sweep_points,
    preflight_configs=preflight_configs,
)
