"""A synchronous population keeps its members' processes across barriers (PBT, PB2).

At each barrier synchronous PBT pauses every member until the last one arrives. Ray Tune
(2.60) keeps a paused trial's actor for reuse only while the search may still create trials
and another trial is staged to start; a population creates all its members at the start, so
every barrier stopped every member's process and the next interval started a new one. A
process start imports torch and Ray Tune, about 4.5 CPU-seconds on the 2-core machine of
BENCHMARKS.md: for small models that was most of a PBT run's time.

Two pieces, both needed:

- `PopulationSampler`: Tune's seeded sampler, whose search counts as finished only once
  every trial it created has ended (while it is "finished" Tune caches nothing);
- `KeepMembers`: a scheduler mixin that reserves a place in Tune's actor cache for every
  member it pauses and gives the place back when it picks that member to run again. Tune
  then hands the cached actor to the member, resetting it to the member's config and
  checkpoint: the path PBT's own exploit takes with `reuse_actors=True`.

The reservation goes through `TuneController._actor_cache` (`increase_max` /
`decrease_max`), an internal of the Ray version pyproject pins, reached past the wrapper Tune
hands schedulers (which logs a warning for any attribute off its list);
tests/harness/test_keep_members.py fails if a barrier starts new processes again.
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator


class PopulationSampler(BasicVariantGenerator):
    """`BasicVariantGenerator` that is finished only when its trials are: Tune caches a
    paused trial's actor only while the search is not finished (or a trial is staged)."""

    def is_finished(self) -> bool:
        return bool(super().is_finished()) and not self._live_trials


def _actor_cache(tune_controller: Any) -> Any:
    controller = getattr(tune_controller, "_tune_controller", tune_controller)  # unwrapped
    return controller._actor_cache


class KeepMembers:
    """Mixin for a synchronous population scheduler: each member it pauses keeps a place in
    Tune's actor cache until the scheduler picks it to run again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: set[str] = set()

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        # reserve before deciding: an exploit inside the decision may pause the trial itself
        reserved = trial.trial_id not in self._kept
        if reserved:
            _actor_cache(tune_controller).increase_max(trial.placement_group_factory)
        decision: str = super().on_trial_result(tune_controller, trial, result)  # type: ignore[misc]
        if decision == TrialScheduler.CONTINUE and trial.status != Trial.PAUSED:
            if reserved:
                _actor_cache(tune_controller).decrease_max(trial.placement_group_factory)
        else:
            self._kept.add(trial.trial_id)
        return decision

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        trial = super().choose_trial_to_run(tune_controller)  # type: ignore[misc]
        if trial is not None and trial.trial_id in self._kept:
            self._kept.discard(trial.trial_id)
            _actor_cache(tune_controller).decrease_max(trial.placement_group_factory)
        return trial


__all__ = ["KeepMembers", "PopulationSampler"]
