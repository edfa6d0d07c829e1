"""When a (strategy, seed) is complete, judged by what its trials recorded.

Ray's trial status is no evidence: Tune marks trials TERMINATED when its driver is
interrupted, although they stopped part-way. The rows are the evidence. A trial has ended
when its last row reached the spec's epochs, or Tune recorded that its scheduler stopped it
(`done` is true on the row of the decision: ASHA's rung stops and max_t; HyperBand's stops
of paused trials leave a marker file instead), or it diverged
(a diverged trial stops training on purpose and is the strategy's result, not a gap). A
(strategy, seed) is finished when it has every expected trial and every one has ended;
a trial that failed past its retries makes it errored (resume retries it); anything else is
incomplete (interrupted: resume continues it).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analysis.contract import DIVERGED, EPOCH

FINISHED, ERRORED, INCOMPLETE = "finished", "errored", "incomplete"


def trial_ended(rows: Sequence[Mapping[str, Any]], epochs: int) -> bool:
    """Whether one trial's rows show it ran to its end (see the module docstring)."""
    if not rows:
        return False
    last = rows[-1]
    return (int(last.get(EPOCH, 0) or 0) >= epochs or last.get("done") is True
            or last.get(DIVERGED) is True)


@dataclass(frozen=True)
class Completion:
    """How far one (strategy, seed) got."""

    status: str  # finished | errored | incomplete
    expected: int
    ended: int  # trials whose rows show they ended
    started: int  # trial directories with at least one row

    def describe(self) -> str:
        return f"{self.ended} of {self.expected} trials ended"


def judge(trials: Mapping[str, Sequence[Mapping[str, Any]]], expected: int, epochs: int,
          n_errored: int, stopped: Collection[str] = ()) -> Completion:
    """The completion of one (strategy, seed) from its trials' rows, the trials a scheduler
    stopped while paused (`stopped`) and Tune's error count."""
    started = sum(1 for rows in trials.values() if rows)
    ended = sum(1 for name, rows in trials.items()
                if trial_ended(rows, epochs) or (rows and name in stopped))
    if n_errored:
        status = ERRORED
    elif ended >= expected:
        status = FINISHED
    else:
        status = INCOMPLETE
    return Completion(status=status, expected=expected, ended=ended, started=started)


__all__ = ["ERRORED", "FINISHED", "INCOMPLETE", "Completion", "judge", "trial_ended"]
