"""Changing an experiment from outside: a TOML file and `--set key=value` overrides.

Both go through `apply`, which checks every key against the spec's fields and every value
against the field's type before `ExperimentSpec` validates the result, so a typo or a wrong
type is refused with a message naming the key instead of silently training something else.
`--set` values are strings and are coerced from the field's declared type.

A TOML file holds spec fields at top level, plus an optional `base = "NAME"` naming the
registered experiment it starts from (default: the experiment named on the command line,
else `quick`). Giving `name` makes it a new experiment.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import SpecError
from harness.experiments import ExperimentSpec, field_types, registry
from harness.experiments.spec import refuse_unknown_keys
from trainables.coerce import ConfigError, coerce, describe
from trainables.config import PER_TRIAL_FIELDS, family_options

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib


@dataclasses.dataclass(frozen=True)
class Unparsed:
    """A `--set` value whose key is no field: maybe an option of the family the experiment
    will have (`Family.options`), known only once every `--set` is in; `apply` types it."""

    text: str


def apply(spec: ExperimentSpec, values: Mapping[str, Any]) -> ExperimentSpec:
    """`spec` with typed `values` replacing its fields; unknown keys and wrong types refused.
    A key that is no field may be an option of the trial's family (the one `values` set,
    else the spec's), typed by the option's default."""
    hints = field_types()
    family = values.get("family", spec.trial.family)
    options = family_options(family)
    _refuse_per_trial(values)
    refuse_unknown_keys(values, family, options)
    changes = {}
    for key, value in values.items():
        if key in hints:
            changes[key] = _typed(key, value, hints[key])
            continue
        option, hint = options[key], type(options[key].default)
        typed = (_typed(key, value.text, hint, from_text=True) if isinstance(value, Unparsed)
                 else _typed(key, value, hint))
        try:
            changes[key] = option.coerce(typed)
        except ConfigError as e:
            raise SpecError(str(e)) from None
    return spec.replace(**changes)


def _refuse_per_trial(keys: Iterable[str], prefix: str = "") -> None:
    per_trial = sorted(set(keys) & set(PER_TRIAL_FIELDS))
    if per_trial:
        raise SpecError(f"{prefix}{', '.join(per_trial)}: set by each strategy for its trials, "
                        "not by the experiment")


def parse_sets(assignments: Iterable[str]) -> dict[str, Any]:
    """Parse `key=value` strings into typed values, coerced from each field's type."""
    hints = field_types()
    out: dict[str, Any] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError(f"--set {item!r}: expected key=value")
        if key not in hints and key not in PER_TRIAL_FIELDS:
            out[key] = Unparsed(text.strip())  # a family's option, or refused by `apply`
            continue
        _refuse_per_trial([key], prefix="--set ")
        out[key] = _typed(key, text, hints[key], from_text=True)
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """A `--config` file's table; a missing, unreadable, non-UTF-8 or malformed file is one
    SpecError naming it (an experiment's TOML and a suite's alike)."""
    where = f"--config {path}"
    try:
        with Path(path).open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SpecError(f"{where}: file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{where}: malformed TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"{where}: not UTF-8 text (TOML files are UTF-8): {e}") from None
    except OSError as e:
        raise SpecError(f"{where}: cannot read: {e.strerror}") from None


def load_toml(path: str | Path, default_base: str | None = None) -> ExperimentSpec:
    """The experiment a TOML file defines (a registered base plus the file's fields)."""
    data = read_toml(path)
    base_name = data.pop("base", None)
    if base_name is not None and not isinstance(base_name, str):
        raise SpecError(f"base={base_name!r}: expected the name of a registered experiment")
    base = registry.get(base_name or default_base or registry.DEFAULT_EXPERIMENT)
    return apply(base, data)


def _typed(key: str, value: Any, hint: Any, *, from_text: bool = False) -> Any:
    """The one coercer's value (`trainables.coerce`), its refusal as a SpecError."""
    try:
        return coerce(key, value, hint, from_text=from_text)
    except ConfigError as e:
        raise SpecError(f"--set {e}" if from_text else str(e)) from None


def describe_type(hint: Any) -> str:
    """A field's type in the words the refusals use (`int or none`, `a list of float`): what
    `crossreg keys` prints, so a key's listed type and its refusal read the same."""
    return describe(hint)


__all__ = ["apply", "describe_type", "load_toml", "parse_sets", "read_toml"]
