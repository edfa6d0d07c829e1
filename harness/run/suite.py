"""Suites: many tasks x strategies x seeds from one command, into one suite directory.

One task cannot say whether an ordering of strategies belongs to the methods or to that task
(issue 22); the protocols researchers trust answer across tasks. A `SuiteSpec`
(harness.experiments.suite_spec) is a named list of tasks with the strategies and seeds they
share.

`start` writes `<storage>/<suite>-<UTC timestamp>/` holding `suite.json` (the tasks' specs,
strategies, seeds, commit, status, each task's run directory) and one ordinary experiment
run directory per task, made by `runner.start` with the suite directory as its storage: every
rule of a run (the lock, completeness, interrupts, resume, the results contract) holds per
task unchanged, and `analysis.load_results(SUITE_DIR)` loads the tasks side by side with a
`task` column. Every task is preflighted before Ray starts, so a bad fifth task is one line
in a second, not an error after four tasks' hours. The tasks run one after another in the
same Ray session (each task's (strategy, seed) units side by side unless `--sequential`).
`resume` finishes exactly what is missing: each task's run is resumed, or started if it never
began. The suite directory is locked to one driver as a run directory is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from harness.errors import HarnessError, Interrupted
from harness.experiments import ExperimentSpec
from harness.experiments.suite_spec import SuiteSpec
from harness.run import metadata, preflight
from harness.run.lock import RunLock
from harness.run.storage import Storage, normalize

FILE = "suite.json"


# --- running --------------------------------------------------------------------------------

def preflight_all(suite: SuiteSpec, trainable: str, address: str | None) -> None:
    """Every task's strategies and trial configs, checked before anything is written or Ray
    starts (`harness.run.preflight`, as `run` checks one experiment): the first problem is one
    line naming the task."""
    from harness.run import runner

    runner.load_trainable(trainable)
    for spec in suite.task_specs():
        work = runner.tasks(spec, {"strategies": list(spec.strategies), "sweep": None})
        preflight.check(spec.name, list(work.values()), on_cluster=bool(address),
                        own_trainable=trainable == runner.DEFAULT_TRAINABLE)


def suite_dir_name(suite: SuiteSpec) -> str:
    return metadata.stamped(suite.name)


def is_suite_dir(path: str) -> bool:
    """Whether `path` is a suite directory (it holds suite.json)."""
    try:
        return Storage(normalize(path)).exists(FILE)
    except (OSError, ValueError):
        return False


def _record(d: Storage, record: dict[str, Any]) -> None:
    d.write_text(FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")


def read(d: Storage) -> dict[str, Any]:
    try:
        record = json.loads(d.read_text(FILE))
    except (OSError, ValueError) as e:
        raise HarnessError(f"{d.root}/{FILE}: unreadable ({e})") from None
    if not isinstance(record, dict) or "tasks" not in record:
        raise HarnessError(f"{d.root}/{FILE}: not a suite record (no tasks)")
    return record


def start(suite: SuiteSpec, options: Any) -> str:
    """Run every task x strategy x seed of `suite` into a new suite directory; return it.
    `options`: the `runner.RunOptions` every task runs with (its storage is where the suite
    directory goes)."""
    from harness.run import runner
    from harness.run.session import resolve_address

    address = resolve_address(options.address)
    preflight_all(suite, options.trainable, address)
    storage = Storage(normalize(options.storage))
    storage.ensure_writable()
    d = storage.child(suite_dir_name(suite))
    d.ensure_writable()
    with RunLock(d):
        record = {
            "name": suite.name, "description": suite.description,
            "strategies": list(suite.strategies), "seeds": suite.seeds,
            "tasks": [{"name": t.name, "spec": t.to_dict()} for t in suite.task_specs()],
            "runs": {}, "trainable": options.trainable, "commit": metadata.git_commit(),
            "status": "running", "start_time": metadata.now(), "end_time": None,
        }
        _record(d, record)
        options.echo(f"suite {suite.name}: {len(suite.tasks)} tasks x {len(suite.strategies)} "
                     f"strategies x {suite.seeds} seed{'s' if suite.seeds != 1 else ''} -> {d.root}")
        _drive(d, record, suite.task_specs(), replace(options, storage=d.root), runner)
    return d.root


def resume(suite_root: str, options: Any) -> str:
    """Finish an interrupted suite: each task's run resumed where it has one, started where
    it has none; a finished task's run is left as it is."""
    from harness.run import runner
    from harness.run.session import resolve_address

    d = Storage(normalize(suite_root))
    record = read(d)
    specs = tuple(runner.spec_from_metadata({"spec": t["spec"]}) for t in record["tasks"])
    trainable = (options.trainable if options.trainable != runner.DEFAULT_TRAINABLE
                 else record.get("trainable", runner.DEFAULT_TRAINABLE))
    options = replace(options, trainable=trainable, storage=d.root)
    suite = SuiteSpec(name=record["name"], tasks=specs, strategies=tuple(record["strategies"]),
                      seeds=int(record["seeds"]))
    preflight_all(suite, trainable, resolve_address(options.address))
    with RunLock(d):
        record = read(d)
        left = [s.name for s in specs if not _finished(d, record, s.name)]
        options.echo(f"resuming suite {d.root}: {len(left)} of {len(specs)} tasks left")
        if left:
            record["status"], record["end_time"] = "running", None
            _record(d, record)
            _drive(d, record, tuple(s for s in specs if s.name in left), options, runner)
    return d.root


def task_runs(d: Storage) -> dict[str, str]:
    """{task name: its run directory's name} of the run directories inside the suite
    directory, read from each one's metadata.json (a run interrupted before the suite could
    record it is found too)."""
    out: dict[str, str] = {}
    for sub in sorted(d.list_dirs()):
        run = d.child(sub)
        if not run.exists(metadata.FILE):
            continue
        try:
            meta = json.loads(run.read_text(metadata.FILE))
        except (OSError, ValueError):
            continue
        out.setdefault(str(meta.get("spec", {}).get("name")), sub)
    return out


def _finished(d: Storage, record: dict[str, Any], task_name: str) -> bool:
    sub = task_runs(d).get(task_name)
    if sub is None:
        return False
    meta = json.loads(d.child(sub).read_text(metadata.FILE))
    return bool(meta.get("status") == "finished"
                and all(v == "finished" for v in meta.get("completed", {}).values())
                and len(meta.get("completed", {})) == len(meta["strategies"]) * len(meta["seeds"]))


def _drive(d: Storage, record: dict[str, Any], specs: Sequence[ExperimentSpec], options: Any,
           runner: Any) -> None:
    """Each task in turn: resume its run if it has one, else start it. An interrupt stops
    the suite (recorded, exit 130); a task that ends short or with failed trials is recorded
    and the others still run (exit 1 at the end), since the next task does not depend on it."""
    failed: list[tuple[str, HarnessError]] = []
    resume_hint = f"crossreg resume {d.root}"
    try:
        for spec in specs:
            existing = task_runs(d).get(spec.name)
            options.echo(f"\n== task {spec.name} ({specs.index(spec) + 1} of {len(specs)})")
            try:
                if existing is not None:
                    run_dir = runner.resume(d.child(existing).root, options)
                else:
                    run_dir = runner.start(spec, options)
            except Interrupted as e:
                if e.exit_code == 130:
                    raise
                failed.append((spec.name, e))
                continue
            except HarnessError as e:
                if e.exit_code == 2:
                    raise
                failed.append((spec.name, e))
                continue
            record["runs"][spec.name] = run_dir.rstrip("/").rsplit("/", 1)[-1]
            _record(d, record)
    except (Interrupted, KeyboardInterrupt):
        _stop(d, record, "interrupted")
        raise Interrupted(f"suite interrupted; continue it with: {resume_hint}") from None
    except BaseException:
        _stop(d, record, "interrupted")
        raise
    record["runs"].update({k: v for k, v in task_runs(d).items()
                           if k in {t["name"] for t in record["tasks"]}})
    if failed:
        _stop(d, record, "incomplete")
        first = failed[0][1]
        raise type(first)(f"{len(failed)} task(s) did not finish cleanly "
                          f"({', '.join(n for n, _ in failed)}; first: {first}); "
                          f"continue with: {resume_hint}")
    _stop(d, record, "finished")


def _stop(d: Storage, record: dict[str, Any], status: str) -> None:
    record["status"], record["end_time"] = status, metadata.now()
    try:
        _record(d, record)
    except OSError:
        pass


__all__ = ["FILE", "is_suite_dir", "preflight_all", "read", "resume", "start", "task_runs"]
