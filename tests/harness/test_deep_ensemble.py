"""deep_ensemble through the harness: M=1 is the fixed strategy to the bit, and M members
cost M times one member (they share the split, so each epoch costs the same)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.experiments import registry
from harness.run import runner


def _rows(run: Path, name: str) -> list[dict]:
    (result,) = (run / f"{name}-seed0").glob("*/result.json")
    return [json.loads(line) for line in result.read_text().splitlines()]


TIMINGS = {"train_seconds", "device_seconds", "observe_seconds", "time_this_iter_s", "time_total_s", "timestamp",
           "time_since_restore", "date", "pid", "trial_id", "hostname", "node_ip", "config",
           "iterations_since_restore", "checkpoint_dir_name", "strategy"}


def _same(row: dict) -> dict:
    return {k: "nan" if isinstance(v, float) and v != v else v
            for k, v in row.items() if k not in TIMINGS}


@pytest.mark.slow
def test_one_member_is_fixed_and_three_cost_three_times(ray_session, tmp_path):
    spec = registry.get("quick").replace(
        name="ens", epochs=3, n_train=200, width=32, batch_size=32, reg_batch_size=32, seeds=1,
        strategies=("fixed", "deep_ensemble"), ensemble_members=1)
    quiet = runner.RunOptions(storage=str(tmp_path / "one"), verbose=0, echo=lambda s: None)
    one = Path(runner.start(spec, quiet))
    fixed, single = _rows(one, "fixed"), _rows(one, "deep_ensemble")
    assert [_same(r) for r in single] == [_same(r) for r in fixed]

    three = Path(runner.start(spec.replace(strategies=("deep_ensemble",), ensemble_members=3),
                              runner.RunOptions(storage=str(tmp_path / "three"), verbose=0,
                                                echo=lambda s: None)))
    ensemble = _rows(three, "deep_ensemble")
    for key in ("fwd_train", "fwd_eval", "flops_train", "flops_eval"):
        assert [r[key] for r in ensemble] == [3 * r[key] for r in fixed], key
    assert ensemble[-1]["test_acc"] != fixed[-1]["test_acc"] or \
        ensemble[-1]["test_nll"] != fixed[-1]["test_nll"]  # the members' mean, not member 0
