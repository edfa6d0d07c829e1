"""`SeededPB2`, the `pb2` strategy's scheduler, in a module of its own: Ray's PB2 imports
scikit-learn, which only a run of `pb2` needs."""

from __future__ import annotations

import warnings
from typing import Any

from ray.tune.schedulers.pb2 import PB2

from harness.strategies._keep_members import KeepMembers
from harness.strategies.common import SeededScheduler


class SeededPB2(KeepMembers, SeededScheduler, PB2):
    """PB2 whose GP fits and draws come from the run's seed. The GP's optimiser warns when a
    length scale hits its bound (common with a handful of points); that is the bandit's
    business, not the user's, so those warnings stay inside."""

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return super().on_trial_result(tune_controller, trial, result)

    def _save_trial_state(self, state: Any, time: int, result: dict, trial: Any) -> Any:
        """PB2 appends each result to its GP's data in arrival order, and members reaching
        a barrier arrive in whatever order their processes run: kept in (time, trial)
        order, the fit does not depend on that race (it moved proposals by 1e-6)."""
        score = super()._save_trial_state(state, time, result, trial)
        self.data = self.data.sort_values(["Time", "Trial"], kind="stable").reset_index(drop=True)
        return score
