"""The one coercer: a value read from TOML, JSON (a trial's config, metadata.json) or a
`--set` string, typed as a field's type hint, or one `ConfigError` naming the key.

Every path a value takes to a trial goes through `coerce`: `TrialConfig.from_dict`, a
family's `Option`, and the harness's `--set`/TOML overrides (which reword nothing but the
error type). So a key refused on the command line is refused in the same words in a TOML
file, and `describe` gives the words `crossreg keys` lists a key's type in.

A hint is `bool`, `int`, `float`, `str`, `tuple[X, ...]`, `Mapping[str, X]` or a union of
them with `None`. An int is a float where a float is asked (TOML's `lr = 1`), never a bool.
"""

from __future__ import annotations

import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any

#: the words a command-line boolean may be spelled with
TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})
#: the words a command-line `none` may be spelled with (`--set n_train=none`)
NONE = frozenset({"none", "null"})


class ConfigError(ValueError):
    """A trial configuration that cannot be trained; the message names the offending key."""


def coerce(name: str, value: Any, hint: Any, *, from_text: bool = False) -> Any:
    """`value` as type `hint`, or a ConfigError `name=value: expected <type>`. With
    `from_text`, a string is what a user typed (`--set`) and is parsed: `none`, `true`,
    `3`, `0.1,1,10`; without, it is a value already typed by its reader (TOML, JSON)."""
    if from_text and isinstance(value, str):
        return _parse(name, value.strip(), hint)
    options = members(hint)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{name}=None: expected {describe(hint)}")
    for option in options:
        origin = typing.get_origin(option) or option
        if origin is bool and (isinstance(value, bool) or _kind(value) == "b"):
            return bool(value)
        if origin is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if origin is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        if origin is str and isinstance(value, str):
            return value
        if origin is tuple and isinstance(value, (list, tuple)):
            item = typing.get_args(option)[0]
            return tuple(coerce(f"{name}[{i}]", v, item) for i, v in enumerate(value))
        if origin in (Mapping, dict) and isinstance(value, Mapping):
            item = typing.get_args(option)[1]
            return {str(k): coerce(f"{name}[{k!r}]", v, item) for k, v in value.items()}
    raise ConfigError(f"{name}={value!r}: expected {describe(hint)}, got {type(value).__name__}")


def _parse(name: str, text: str, hint: Any) -> Any:
    options = members(hint)
    # `none` of an optional field is None even where a string would do (`data_dir=none`)
    if type(None) in options and text.lower() in NONE | {""}:
        return None
    for option in options:
        origin = typing.get_origin(option) or option
        try:
            if origin is bool and text.lower() in TRUE | FALSE:
                return text.lower() in TRUE
            if origin is int:
                return int(text)
            if origin is float:
                return float(text)
            if origin is str:
                return text
            if origin is tuple:
                item = typing.get_args(option)[0]
                parts = [t.strip() for t in text.strip("[]()").split(",") if t.strip()]
                return tuple(_parse(f"{name}[{i}]", t, item) for i, t in enumerate(parts))
        except ValueError:
            continue  # the next option of a union may parse it
    raise ConfigError(f"{name}={text!r}: expected {describe(hint)}")


def describe(hint: Any) -> str:
    """A type in the words the refusals use (`int or none`, `a list of float`)."""
    names = []
    for option in members(hint):
        origin = typing.get_origin(option)
        if option is type(None):
            names.append("none")
        elif origin is tuple:
            names.append(f"a list of {describe(typing.get_args(option)[0])}")
        elif origin in (Mapping, dict):
            names.append(f"a table of {describe(typing.get_args(option)[1])}")
        else:
            names.append(option.__name__)
    return " or ".join(names)


def _kind(value: Any) -> str | None:
    """A numpy scalar's kind (`b` for numpy's bool, which is no `bool`), else None."""
    dtype = getattr(value, "dtype", None)
    return getattr(dtype, "kind", None)


def members(hint: Any) -> tuple[Any, ...]:
    """The types a hint allows: a union's members, else the hint alone."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


__all__ = ["FALSE", "NONE", "TRUE", "ConfigError", "coerce", "describe", "members"]
