"""How a run schedules its (strategy, seed) units (issue 21): side by side by default,
`--sequential` on request, `--concurrent` still accepted, the largest units launched first.
No Ray: the flags and the order only (test_strategies runs both schedules end to end)."""

from __future__ import annotations

import pytest

from harness.cli import commands as cli
from harness.errors import HarnessError
from harness.experiments import registry
from harness.run import runner


@pytest.mark.parametrize("argv, concurrent", [
    (["run"], True),
    (["run", "--sequential"], False),
    (["run", "--concurrent"], True),  # the old opt-in: a no-op alias now
    (["sweep", "--sequential"], False),
    (["sweep"], True),
])
def test_side_by_side_is_the_default_and_sequential_turns_it_off(argv, concurrent):
    args = cli.build_parser().parse_args(argv)
    assert cli._start_options(args).concurrent is concurrent


@pytest.mark.parametrize("argv, concurrent", [(["resume", "D"], True),
                                               (["resume", "D", "--sequential"], False)])
def test_resume_schedules_like_run(argv, concurrent):
    args = cli.build_parser().parse_args(argv)
    options = cli._run_options(args, address=args.address, concurrent=not args.sequential)
    assert options.concurrent is concurrent


def test_sequential_and_concurrent_together_are_refused():
    with pytest.raises(HarnessError, match="not allowed with"):
        cli.build_parser().parse_args(["run", "--sequential", "--concurrent"])


def test_units_launch_largest_first_ties_in_plan_order():
    spec = registry.get("quick").replace(strategies=("fixed", "asha", "cross_reg", "pbt"),
                                         seeds=2, asha_samples=16, pbt_population=8)
    meta = {"strategies": list(spec.strategies), "seeds": [0, 1], "sweep": None}
    work = runner.tasks(spec, meta)
    order = runner.launch_order(runner.plan(meta), work)
    assert order == [("asha", 0), ("asha", 1), ("pbt", 0), ("pbt", 1),
                     ("fixed", 0), ("fixed", 1), ("cross_reg", 0), ("cross_reg", 1)]
    assert runner.unit_size(work["asha"]) == 16 * spec.epochs
