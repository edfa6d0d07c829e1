"""What the command line says about itself: exit codes, the keys `--set` and TOML accept, and
the catalogue of experiments and strategies (`crossreg list`, `crossreg keys`).

Each is read from the code it describes (the error classes' exit codes, the dataclasses'
fields, types and defaults, the registry), so the help cannot drift from what runs. Everything
here fits a 100-column terminal: people read it beside their shell, not in a pager.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

WIDTH = 100

#: every exit code of `crossreg`, what it means and what to do about it (the README's "Exit
#: codes" paragraph); tests check the codes against harness.errors and harness.cli
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "done"),
    (1, "some trials failed past their retries, a (strategy, seed) ended short with no signal, or "
        "the run directory stopped taking writes (disk full, read-only): `crossreg resume DIR` "
        "continues it"),
    (2, "bad input, refused before Ray starts (unknown name, bad --set or TOML, --seeds 0, "
        "unwritable storage, unreachable --address, a directory another driver holds): one line "
        "on stderr"),
    (130, "interrupted (Ctrl-C or SIGTERM): running trials stopped, state saved; `crossreg resume "
          "DIR` continues"),
    (141, "the output pipe closed (`crossreg list | head`)"),
)

KEYS_HINT = ("--set KEY=VALUE and a --config TOML file accept the keys `crossreg keys` lists, "
             "with their types and defaults (`crossreg keys EXPERIMENT`: that experiment's "
             "values).")


def exit_codes_text() -> str:
    """The exit-code table of `--help` (laid out here, kept as is by the help formatter)."""
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES:
        lines += textwrap.wrap(meaning, WIDTH - 2, initial_indent=f"  {code:<5}",
                               subsequent_indent=" " * 7)
    return "\n".join(lines)


def epilog(keys: bool) -> str:
    """`--help`'s closing text: where the keys are (run, sweep), then the exit codes."""
    text = exit_codes_text()
    return (textwrap.fill(KEYS_HINT, WIDTH - 2) + "\n\n" + text) if keys else text


# --- crossreg keys --------------------------------------------------------------------------

def value_text(value: Any) -> str:
    """A value as `--set` takes it: `none`, `true`, `0.01,0.1,1.0`, `""` for an empty string."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(value_text(v) for v in value)
    if isinstance(value, str):
        return value if value else '""'
    return repr(value) if isinstance(value, float) else str(value)


def _defaults(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def key_groups() -> list[tuple[str, list[tuple[str, str, Any]]]]:
    """[(group, [(key, type, default)])]: the experiment's own keys (strategies, seeds, search
    budgets, resources), then the trial's (what every strategy trains), each in declaration
    order, from `harness.experiments.field_types` and the dataclasses' defaults."""
    from harness.experiments import ExperimentSpec, field_types, overrides, trial_field_names
    from trainables.config import TrialConfig

    hints = field_types()
    trial = set(trial_field_names())
    defaults = {**_defaults(TrialConfig), **_defaults(ExperimentSpec)}

    def rows(keys: Iterable[str]) -> list[tuple[str, str, Any]]:
        return [(k, overrides.describe_type(hints[k]), defaults.get(k, "-")) for k in keys]

    return [("experiment (harness.experiments.ExperimentSpec): strategies, seeds, search budgets, "
             "resources", rows(k for k in hints if k not in trial)),
            ("trial (trainables.TrialConfig): what every strategy trains, shared by all",
             rows(k for k in hints if k in trial))]


def keys_text(experiment: str | None = None) -> str:
    """Every key `--set` and TOML accept, grouped, with type and default; with `experiment`,
    that registered experiment's value in place of the default."""
    from harness.experiments import registry

    values = registry.get(experiment).to_dict() if experiment else None
    groups = key_groups()
    all_rows = [r for _, rows in groups for r in rows]
    kw = max(len(k) for k, _, _ in all_rows)
    tw = max(len(t) for _, t, _ in all_rows)
    vw = WIDTH - 2 - kw - 2 - tw - 2
    head = experiment or "default"
    out = []
    for title, rows in groups:
        out += [title, f"  {'key':<{kw}}  {'type':<{tw}}  {head}"]
        for key, type_name, default in rows:
            shown = value_text(values[key] if values is not None and key in values else default)
            if len(shown) > vw:
                shown = shown[:vw - 3] + "..."
            out.append(f"  {key:<{kw}}  {type_name:<{tw}}  {shown}")
        out.append("")
    out.append(textwrap.fill("e.g. crossreg run quick --set epochs=40 --set grid_values=0.01,0.1,1 "
                             "--set rho_low=none; a TOML file: epochs = 40, grid_values = [0.01, 0.1, 1] "
                             "(base = \"quick\" picks the experiment it changes)", WIDTH))
    return "\n".join(out)


# --- crossreg list --------------------------------------------------------------------------

def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in [header, *rows]]


def list_text(long: bool = False) -> str:
    """The registered experiments, one line each (dataset, model, family, seeds, epochs) with
    their strategies on the next line (the whole row would not fit 100 columns), and the
    strategies with their descriptions; `long` adds each experiment's description."""
    from harness import strategies
    from harness.experiments import registry

    exps = registry.EXPERIMENTS
    rows = [(name, spec.trial.dataset, spec.trial.model, spec.trial.family, str(spec.seeds),
             str(spec.epochs)) for name, spec in exps.items()]
    table = _table(("experiment", "dataset", "model", "family", "seeds", "epochs"), rows, {4, 5})
    out = ["experiments (crossreg run NAME; crossreg keys NAME: all of its fields):", table[0]]
    for line, spec in zip(table[1:], exps.values()):
        out.append(line)
        out += textwrap.wrap("strategies: " + " ".join(spec.strategies), WIDTH,
                             initial_indent=" " * 6, subsequent_indent=" " * 18)
        if long and spec.description:
            out += textwrap.wrap(spec.description, WIDTH, initial_indent=" " * 6,
                                 subsequent_indent=" " * 6)
    names = strategies.names()
    width = max(len(n) for n in names)
    out.append("strategies (--strategies S ...; 'pkg.module:ATTR' names your own):")
    for name in names:
        out += textwrap.wrap(strategies.get(name).description, WIDTH,
                             initial_indent=f"  {name:<{width}}  ",
                             subsequent_indent=" " * (width + 4))
    return "\n".join(out)


__all__ = ["EXIT_CODES", "KEYS_HINT", "epilog", "exit_codes_text", "key_groups", "keys_text",
           "list_text", "value_text"]
