"""grid_cv: k-fold cross-validation (Stone, "Cross-Validatory Choice and Assessment of
Statistical Predictions", JRSS B 1974) over a log grid of rho, then a refit.

The grid is the spec's `grid_values`, for one rho shared by every name or, with
`grid_per_layer`, the product grid over the searched names of the spec's declared search
space (`ExperimentSpec.search_space`: the names PBT and ASHA search one by one). For each grid
point and each fold a trial trains on the other folds of the training pool and validates on
its fold (`n_folds=k, fold=i, role="fold"`); the point with the best mean validation metric
across folds wins, and one more trial refits with it (`role="refit"`): that refit is the
strategy's final model. Where it trains is the spec's `protocol`: `equal_rows` (default) the
training split every other strategy's final model trains on (the ordinary hold-out split,
`n_folds=1`, so it also has validation metrics and a fitted temperature); `full_pool` the
whole pool (`fold=-1`, no validation split). k=1 is plain hold-out on the regularization
split. Ties go to the smaller point (the weaker regularizer; lexicographic per layer).

The refit can only be configured once every fold has finished, yet it must live in the
same Tune experiment `grid_cv-seed<k>` as its folds (one experiment per strategy and seed,
docs/contract.md) so that `Tuner.restore` resumes the whole strategy as one unit. A small
`Searcher` does this: it hands out the G*k fold configs, waits, then hands out the refit.
Its state (which folds reported what, whether the refit was issued) is saved with the Tune
experiment as JSON (never pickle: a run directory someone hands you must not run code through
our own state), so a resumed run neither repeats folds nor issues a second refit.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from ray import tune
from ray.tune.search import Searcher

from analysis.contract import RHO_PREFIX
from harness.experiments import ExperimentSpec
from harness.strategies.common import (
    Strategy,
    StrategyContext,
    base_config,
    final_split,
    run_config,
    tune_config,
)

NAME = "grid_cv"
#: its final model, the refit, only trains: under the full_pool protocol on the whole pool
NEEDS_HOLDOUT = False

#: a grid point: one value per searched name (one value for a shared rho)
Point = tuple[float, ...]


def select(scores: dict[tuple[Any, int], float], values: Sequence[Any], mode: str) -> Any:
    """The grid value (or point) with the best mean fold score (NaN/failed folds count as
    worst)."""
    def mean_score(v: Any) -> float:
        s = [scores.get((v, f), math.nan) for f in sorted({f for (u, f) in scores if u == v})]
        s = [x if math.isfinite(x) else (-math.inf if mode == "max" else math.inf) for x in s]
        return sum(s) / len(s) if s else (-math.inf if mode == "max" else math.inf)

    ordered = sorted(values)  # ties -> the smaller value (first in ascending order)
    if mode == "max":
        return max(ordered, key=lambda v: (mean_score(v), -ordered.index(v)))
    return min(ordered, key=lambda v: (mean_score(v), ordered.index(v)))


class CVGridSearcher(Searcher):
    """Fold trials first (every grid point x every fold), then one refit with the winner."""

    def __init__(self, base: dict[str, Any], values: Sequence[Point], n_folds: int,
                 metric: str, mode: str, per_layer: Callable[[Point], Any],
                 refit_split: dict[str, Any] | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self.base, self.values, self.n_folds = dict(base), [tuple(v) for v in values], int(n_folds)
        self._per_layer = per_layer  # point -> rho as the trainable expects it
        # the refit's split keys (the protocol's): the hold-out split, or the whole pool
        self.refit_split = dict(refit_split if refit_split is not None
                                else {"n_folds": self.n_folds, "fold": -1})
        self.pending = [(v, f) for v in self.values for f in range(self.n_folds)]
        self.assigned: dict[str, tuple[Point, int]] = {}
        self.scores: dict[tuple[Point, int], float] = {}
        self.refit_trial: str | None = None
        self.chosen: Point | None = None

    def _fold_config(self, value: Point, fold: int) -> dict[str, Any]:
        """A fold trial's config. A fold is a validation device: grid CV never returns its
        model, so its test split is observed once, at its last epoch (`observe_every`), not
        ten times: the folds' observation was 369 of 562 observing seconds in a 2-seed
        mnist1d-noise run (BENCHMARKS.md). The anytime curve shows a fold at its end."""
        folds = {"n_folds": self.n_folds, "fold": fold} if self.n_folds > 1 else {}
        once = {"observe_every": self.base["epochs"]} if "epochs" in self.base else {}
        return {**self.base, **folds, **once, "rho": self._per_layer(value), "role": "fold"}

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
        return {**self.base, **self.refit_split,
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
            "base": self.base, "values": [list(v) for v in self.values], "n_folds": self.n_folds,
            "refit_split": self.refit_split,
            "pending": [list(p) for p in self.pending],
            "assigned": {t: list(k) for t, k in self.assigned.items()},
            "scores": [[list(v), f, s if math.isfinite(s) else None]
                       for (v, f), s in self.scores.items()],
            "refit_trial": self.refit_trial,
            "chosen": None if self.chosen is None else list(self.chosen),
            "metric": self._metric, "mode": self._mode,
        }
        with open(checkpoint_path, "w") as f:
            json.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            state = json.load(f)
        self.base, self.values = dict(state["base"]), [_point(v) for v in state["values"]]
        self.n_folds = int(state["n_folds"])
        # a state saved before the protocol existed refit on the whole pool
        self.refit_split = dict(state.get("refit_split", {"n_folds": self.n_folds, "fold": -1}))
        self.pending = [(_point(v), int(k)) for v, k in state["pending"]]
        self.assigned = {t: (_point(v), int(k)) for t, (v, k) in state["assigned"].items()}
        self.scores = {(_point(v), int(k)): math.nan if s is None else float(s)
                       for v, k, s in state["scores"]}
        self.refit_trial = state["refit_trial"]
        self.chosen = None if state["chosen"] is None else _point(state["chosen"])
        self._metric, self._mode = state["metric"], state["mode"]


def _point(saved: Any) -> Point:
    """A grid point from saved JSON: a list, or a bare number (a state saved before grids
    could be per layer)."""
    return tuple(float(x) for x in saved) if isinstance(saved, list) else (float(saved),)


def grid_points(spec: ExperimentSpec) -> list[Point]:
    """The grid: every combination of `grid_values` over the searched names of the spec's
    search space with `grid_per_layer` (in product order), else each value shared."""
    names = spec.search_space().names if spec.grid_per_layer else ()
    return [tuple(p) for p in itertools.product(spec.grid_values, repeat=max(1, len(names)))]


def grid_rho(spec: ExperimentSpec) -> Callable[[Point], Any]:
    """A grid point as the trainable's `rho`: a dict over the searched names (per layer), or
    one float (shared)."""
    space = spec.search_space()

    def rho(point: Point) -> Any:
        if spec.grid_per_layer and space.names:
            return space.value(point)
        return float(point[0])
    return rho


def refit_split(spec: ExperimentSpec) -> dict[str, Any]:
    """Where the refit trains under the spec's protocol: the training split every final
    model trains on (`equal_rows`: the hold-out split, n_folds=1), or the whole pool."""
    return final_split(spec, NEEDS_HOLDOUT) or {"n_folds": 1, "fold": None}


def build(ctx: StrategyContext) -> tune.Tuner:
    spec = ctx.spec
    base = base_config(ctx, role="fold")
    searcher = CVGridSearcher(base, grid_points(spec), spec.cv_folds, spec.metric, spec.mode,
                              per_layer=grid_rho(spec), refit_split=refit_split(spec))
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
    """Every grid point on every fold, plus the refit."""
    return len(grid_points(spec)) * spec.cv_folds + 1


def preflight_configs(spec: ExperimentSpec, seed: int) -> list[dict[str, Any]]:
    """A fold trial at every grid value (each value on every name), and the refit on the
    protocol's rows."""
    folds = {"n_folds": spec.cv_folds} if spec.cv_folds > 1 else {}
    rho = grid_rho(spec)
    width = len(grid_points(spec)[0])
    fold_configs = [spec.trial_config(NAME, seed, learned=False, role="fold", rho=rho((v,) * width),
                                      **folds, **({"fold": 0} if folds else {}))
                    for v in spec.grid_values]
    refit = spec.trial_config(NAME, seed, learned=False, role="refit",
                              rho=rho((spec.grid_values[0],) * width), **refit_split(spec))
    return [*fold_configs, refit]


def describe_space(spec: ExperimentSpec) -> str:
    """`rho/sigma_0, rho/sigma_1 per layer, grid {0.01, 0.1, 1}; 9 points x 3 folds`."""
    space = spec.search_space()
    names = space.names if spec.grid_per_layer else ()
    who = (", ".join(f"{RHO_PREFIX}{n}" for n in names) + " per layer") if names else "rho shared"
    values = ", ".join(f"{v:g}" for v in spec.grid_values)
    return (f"{who}, grid {{{values}}}; {len(grid_points(spec))} points x {spec.cv_folds} "
            f"folds, refit on the {'whole pool' if refit_split(spec).get('fold') == -1 else 'training split'}")


STRATEGY = Strategy(
    name=NAME,
    description="k-fold CV over a log grid of rho (shared, or per layer), then a refit",
    learns_rho=False,
    build=build,
    expected_trials=expected_trials,
    budget_fields=("grid_size",),
    sweep_points=sweep_points,
    preflight_configs=preflight_configs,
    needs_holdout=NEEDS_HOLDOUT,
    describe_space=describe_space,
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
