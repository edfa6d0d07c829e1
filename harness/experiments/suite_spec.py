"""A suite's declaration: a named list of tasks (each a complete `ExperimentSpec`: a registered
experiment, a base plus field overrides, a user's own `pkg.module:load` dataset) with the
strategies and seeds they share, from Python (`task`, harness.experiments.suites) or a suite
TOML file (`load_toml`). Running one is harness.run.suite's job.
"""


from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import SpecError
from harness.experiments import ExperimentSpec, overrides, registry

#: the keys a suite TOML holds at top level (every other key belongs in a [[task]] table)
TOML_KEYS = ("name", "description", "seeds", "strategies", "task")


@dataclass(frozen=True)
class SuiteSpec:
    """A named list of tasks with the strategies and seeds they share.

    Each task is a complete experiment; its own `strategies` and `seeds` are replaced by the
    suite's (`task_specs`), so every task compares the same strategies on the same seeds: the
    across-task ranks need every strategy in every (task, seed) block.
    """

    name: str
    tasks: tuple[ExperimentSpec, ...]
    strategies: tuple[str, ...]
    seeds: int = 5
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise SpecError(f"suite name={self.name!r}: must be a non-empty name usable as a directory")
        if not self.tasks:
            raise SpecError(f"suite {self.name}: name at least one task")
        names = [t.name for t in self.tasks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SpecError(f"suite {self.name}: task name(s) {', '.join(twice)} appear twice; "
                            "give each [[task]] its own name")
        if not self.strategies or len(set(self.strategies)) != len(self.strategies):
            raise SpecError(f"suite {self.name}: strategies={list(self.strategies)}: name each "
                            "strategy once, at least one")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise SpecError(f"suite {self.name}: seeds={self.seeds!r}: must be an integer >= 1")

    def task_specs(self) -> tuple[ExperimentSpec, ...]:
        """Every task as it runs: its own fields, the suite's strategies and seeds."""
        return tuple(t.replace(strategies=self.strategies, seeds=self.seeds) for t in self.tasks)

    def changed(self, sets: Mapping[str, Any] | None = None,
                strategies: Sequence[str] | None = None, seeds: int | None = None,
                smoke: bool = False) -> SuiteSpec:
        """The suite with the command line's changes: `--set` on every task (typed and
        checked as for `run`), `--strategies`, `--seeds`, then `--smoke` (every task shrunk,
        one seed unless `--seeds` says otherwise; the name gets `-smoke`, so its rows never
        pool with a real run's)."""
        if seeds is not None and seeds < 1:
            raise SpecError(f"--seeds {seeds}: must be >= 1")
        tasks = self.tasks
        if sets:
            tasks = tuple(_task_change(t, sets) for t in tasks)
        suite = replace(self, tasks=tasks, strategies=tuple(strategies or self.strategies),
                        seeds=self.seeds if seeds is None else seeds)
        if smoke:
            suite = replace(suite, name=f"{suite.name}-smoke",
                            tasks=tuple(t.smoke() for t in suite.tasks),
                            seeds=1 if seeds is None else seeds)
        return suite


def _task_change(task: ExperimentSpec, values: Mapping[str, Any]) -> ExperimentSpec:
    try:
        return overrides.apply(task, values)
    except SpecError as e:
        raise SpecError(f"task {task.name}: {e}") from None


def task(base: str, name: str | None = None, **fields: Any) -> ExperimentSpec:
    """A task: the registered experiment `base` with `fields` changed (typed and checked as a
    TOML file's are) and, with `name`, under its own name."""
    spec = overrides.apply(registry.get(base), fields)
    return spec.replace(name=name) if name else spec


# --- TOML -----------------------------------------------------------------------------------

def load_toml(path: str | Path) -> SuiteSpec:
    """The suite a TOML file declares (the README's "Suites": `name`, `seeds`, `strategies`,
    `[[task]]` tables each with a `base`, an optional `name` and fields);
    every problem is one SpecError naming the file, the task and the key."""
    where = f"--config {path}"
    data = overrides.read_toml(path)
    unknown = sorted(set(data) - set(TOML_KEYS))
    if unknown:
        raise SpecError(f"{where}: unknown suite key(s) {', '.join(unknown)}; a suite holds "
                        f"{', '.join(TOML_KEYS[:-1])} and [[task]] tables (experiment fields "
                        "go inside a task)")
    name = data.get("name")
    if not isinstance(name, str):
        raise SpecError(f"{where}: name = {name!r}: expected the suite's name (a string)")
    seeds = data.get("seeds", 5)
    if isinstance(seeds, bool) or not isinstance(seeds, int):
        raise SpecError(f"{where}: seeds = {seeds!r}: expected an integer")
    strategies = data.get("strategies")
    if not isinstance(strategies, list) or not all(isinstance(s, str) for s in strategies):
        raise SpecError(f"{where}: strategies = {strategies!r}: expected a list of strategy names")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{where}: description = {description!r}: expected a string")
    tables = data.get("task")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise SpecError(f"{where}: no [[task]] tables; a suite needs at least one")
    tasks = []
    for i, table in enumerate(tables, 1):
        fields = dict(table)
        base, own = fields.pop("base", None), fields.pop("name", None)
        if not isinstance(base, str):
            raise SpecError(f"{where}: task {i}: base = {base!r}: expected the name of a "
                            "registered experiment")
        if own is not None and not isinstance(own, str):
            raise SpecError(f"{where}: task {i}: name = {own!r}: expected a string")
        for key in ("strategies", "seeds"):
            if key in fields:
                raise SpecError(f"{where}: task {i}: {key} is the suite's (top level), shared "
                                "by every task")
        try:
            tasks.append(task(base, own, **fields))
        except SpecError as e:
            raise SpecError(f"{where}: task {i} ({own or base}): {e}") from None
    try:
        return SuiteSpec(name=name, tasks=tuple(tasks), strategies=tuple(strategies),
                         seeds=seeds, description=description)
    except SpecError as e:
        raise SpecError(f"{where}: {e}") from None


def describe(suites: Mapping[str, SuiteSpec]) -> list[str]:
    """`crossreg list`'s suite lines: name, tasks, strategies, seeds."""
    import textwrap

    out = ["suites (crossreg suite NAME; --plan: its cost before it runs):"]
    width = max((len(n) for n in suites), default=0)
    pad = " " * (width + 4)
    for name, s in suites.items():  # 100 columns, as the rest of `crossreg list`
        out += textwrap.wrap(f"{len(s.tasks)} tasks x {len(s.strategies)} strategies x "
                             f"{s.seeds} seeds: {', '.join(t.name for t in s.tasks)}", 100,
                             initial_indent=f"  {name:<{width}}  ", subsequent_indent=pad)
        if s.description:
            out += textwrap.wrap(s.description, 100, initial_indent=pad, subsequent_indent=pad)
    return out


__all__ = ["TOML_KEYS", "SuiteSpec", "describe", "load_toml", "task"]
