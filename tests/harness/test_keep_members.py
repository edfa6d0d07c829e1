"""A synchronous population (pbt, pb2) keeps its members' processes across barriers
(harness/strategies/_keep_members.py): before it, every barrier stopped each member's
process and the next interval started a new one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.experiments import registry
from harness.run import runner

SYNTHETIC = "harness.testing:synthetic_train_fn"
EPOCHS = 6


def _rows(exp: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(exp.glob("*/result.json"))
            for line in f.read_text().splitlines() if line]


@pytest.mark.parametrize("strategy", ["pbt", "pb2"])
def test_barriers_keep_the_members_processes(ray_session, tmp_path, strategy):
    # a barrier after every epoch: five of them, each of which used to start two processes
    spec = registry.get("quick").replace(
        name="keep", epochs=EPOCHS, n_train=120, batch_size=32, reg_batch_size=16, seeds=1,
        strategies=(strategy,), pbt_population=2, pbt_interval=1)
    run = Path(runner.start(spec, runner.RunOptions(storage=str(tmp_path), trainable=SYNTHETIC,
                                                    verbose=0, echo=lambda s: None)))
    assert json.loads((run / "metadata.json").read_text())["status"] == "finished"
    rows = _rows(run / f"{strategy}-seed0")
    by_trial: dict[str, list[int]] = {}
    for r in rows:
        by_trial.setdefault(r["trial_id"], []).append(r["training_iteration"])
    assert sorted(by_trial.values()) == [list(range(1, EPOCHS + 1))] * 2  # every epoch, once
    # the session has two CPUs: at most two processes for the whole run (one may serve both
    # members in turn); each barrier used to add two more (4 here before the change)
    assert len({r["pid"] for r in rows}) <= 2, sorted({r["pid"] for r in rows})
