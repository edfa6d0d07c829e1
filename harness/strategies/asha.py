"""asha: N sampled per-layer rho configurations under the asynchronous successive halving
scheduler (Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys
2020). Pinned: reduction_factor from the spec (3), grace period from the spec (1-2 epochs),
max_t = epochs, time_attr = training_iteration, one bracket. Stopped trials are not
candidates for the final model but their epochs count towards the cost.

Both the number of samples and the grace period are budget knobs (`crossreg sweep
--budget asha_grace_period=2,10,20`): a short grace period chooses on early validation
scores, which favour weak regularization, so a patient ASHA is a budget point of its own
(the default sweep: N4..N32 at the spec's grace, and grace 10 and 20 at the spec's samples).
TPE shares this scheduler and so this grace period; HyperBand has none (its brackets set
their own first rung).

Asynchronous by design: a trial reaching a rung is compared with the trials that reached it
before, so with trials side by side the order in which they report can change a stop, and
with it the cost and, now and then, the final model (two runs of the `small` suite at
different commits: 3 of its 35 ASHA units differed, 2 in their final model; BENCHMARKS.md).
The candidates (seeded) and each trial's training are the same whatever the order. A
restored ASHA replays its rungs from the rows (below), so a resume adds no variation of its
own.
"""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from analysis.contract import TRAINING_ITERATION
from harness.strategies.common import (
    CreationOrder,
    Strategy,
    StrategyContext,
    count_of,
    knobs_sweep,
    recorded_rows,
    sampled_search,
    sampled_space,
    search_range_configs,
)

NAME = "asha"
#: the budget knobs of an ASHA-scheduled search: samples, then the grace period (patience)
BUDGET_KNOBS = (("asha_samples", "N", (4, 8, 16, 32)), ("asha_grace_period", "grace", (2, 10, 20)))


class ReplayingASHA(CreationOrder, ASHAScheduler):
    """ASHA whose rungs survive `Tuner.restore`: each trial added with rows on record (a
    restored one) has them replayed into its bracket before any new result arrives.

    Why: Ray Tune 2.60 pickles the scheduler into tuner.pkl as it was built and never calls
    its save/restore, so a restored ASHA starts with empty rungs; a trial that the
    uninterrupted run stops at a rung then runs to the end (issue 20: 31-88% more cost and
    another final model). The rungs are rebuilt exactly from the rows, per trial, because a
    rung holds each trial's metric at the first row that reached the rung's milestone, which
    depends on that trial's rows only (not on the order in which trials reported). Tune adds
    every restored trial, ended ones included, before it starts any, so the rungs are whole
    before the first new decision. Replayed decisions are not acted on: they were made, and
    their stops are on record (`done` on the row of the decision). Trials start in creation
    order (`CreationOrder`), as in the uninterrupted run, not in the order Tune re-adds them.
    """

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)
        bracket, metric = self._trial_info[trial.trial_id], str(self._metric)
        for row in recorded_rows(trial):
            step, value = row.get(self._time_attr), row.get(metric)
            if step is None or value is None:
                continue
            if step >= self._max_t and self._stop_last_trials:
                continue  # max_t: a stop, which records nothing
            bracket.on_result(trial, step, self._metric_op * value)


def scheduler(ctx: StrategyContext) -> ASHAScheduler:
    spec = ctx.spec
    return ReplayingASHA(
        time_attr=TRAINING_ITERATION,
        max_t=spec.epochs,
        grace_period=spec.grace_period,
        reduction_factor=spec.asha_reduction_factor,
        brackets=1,
        stop_last_trials=True,
    )


def build(ctx: StrategyContext) -> tune.Tuner:
    return sampled_search(ctx, scheduler(ctx), ctx.spec.asha_samples)


STRATEGY = Strategy(
    name=NAME,
    description="N sampled per-layer configs under asynchronous successive halving",
    learns_rho=False,
    build=build,
    expected_trials=count_of("asha_samples"),
    budget_fields=tuple(field for field, _, _ in BUDGET_KNOBS),
    sweep_points=knobs_sweep(*BUDGET_KNOBS),
    preflight_configs=search_range_configs(NAME),
    describe_space=sampled_space("asha_samples"),
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
