"""hyperband: Ray Tune's synchronous HyperBand (Li et al., JMLR 2018) over the same
per-layer space and the same number of samples as ASHA.

Pinned: time_attr = training_iteration, max_t = epochs, reduction_factor from the spec (3,
as ASHA), num_samples = the spec's `asha_samples`, stop_last_trials. HyperBand pauses trials
at each rung and resumes the survivors from their checkpoints, so they checkpoint every
epoch (a resumed trial must not redo epochs). It also stops the losers of a rung while they
are paused, which leaves no mark in their rows (ASHA's stops set `done` on the row of the
decision); `RecordedHyperBand` writes a marker file into such a trial's directory, so the
completeness rule can tell a stopped trial from an interrupted one without trusting Ray's
trial status. The final model is the best completed trial by validation.
"""

from __future__ import annotations

import json
from typing import Any

from ray import tune
from ray.tune.schedulers import HyperBandScheduler

from analysis.contract import TRAINING_ITERATION
from harness.run.results_io import SCHEDULER_STOP_FILE
from harness.strategies.common import (
    Strategy,
    StrategyContext,
    count_of,
    count_sweep,
    sampled_search,
    sampled_space,
    search_range_configs,
)

NAME = "hyperband"


class _RecordingController:
    """The Tune controller, except that `stop_trial` first marks the trial as stopped."""

    def __init__(self, controller: Any) -> None:
        self._controller = controller

    def stop_trial(self, trial: Any) -> None:
        storage = trial.storage
        path = f"{storage.trial_fs_path}/{SCHEDULER_STOP_FILE}"
        with storage.storage_filesystem.open_output_stream(path) as f:
            f.write(json.dumps({TRAINING_ITERATION: trial.last_result.get(TRAINING_ITERATION)}).encode())
        self._controller.stop_trial(trial)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._controller, name)


class RecordedHyperBand(HyperBandScheduler):
    """HyperBand whose every stop of a paused trial is on record in the trial's directory."""

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        recording: Any = _RecordingController(tune_controller)  # a TuneController to HyperBand
        return super().on_trial_result(recording, trial, result)


def scheduler(ctx: StrategyContext) -> HyperBandScheduler:
    return RecordedHyperBand(time_attr=TRAINING_ITERATION, max_t=ctx.spec.epochs,
                             reduction_factor=ctx.spec.asha_reduction_factor,
                             stop_last_trials=True)


def build(ctx: StrategyContext) -> tune.Tuner:
    return sampled_search(ctx, scheduler(ctx), ctx.spec.asha_samples, checkpoint_every=1)


STRATEGY = Strategy(
    name=NAME,
    description="synchronous HyperBand brackets over ASHA's space and samples",
    learns_rho=False,
    build=build,
    expected_trials=count_of("asha_samples"),
    budget_fields=("asha_samples",),
    sweep_points=count_sweep("asha_samples", "N", (4, 8, 16, 32)),
    preflight_configs=search_range_configs(NAME),
    describe_space=sampled_space("asha_samples"),
    # Ray Tune 2.60 never saves or restores a scheduler, and a restored HyperBand would not
    # decide as the uninterrupted run: Tune re-adds the trials newest-result first, and
    # HyperBand fills its brackets in the order trials are added, so the brackets change;
    # its rung state (paused trials waiting for their rung, halvings done) lives only in
    # memory. Restarting from scratch is exact (seeded sampler, trials from their seeds),
    # at the price of recomputing the epochs (kept as cost like PBT's).
    restorable=False,
    restart_note="a restored HyperBand would rebuild other brackets",
    exact_resume=True,  # proven: tests/harness/test_exact_resume.py
)
