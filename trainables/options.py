"""A family's own knobs: `Option`, declared in the family's file (`Family.options`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .coerce import ConfigError, coerce


@dataclass(frozen=True)
class Option:
    """A knob a family declares in its own file (``Family.options``), so that adding one is an
    edit there alone: it is a key of the trial's config like any `TrialConfig` field (a Ray
    config key, ``--set NAME=VALUE``, a TOML key, a metadata.json field), typed by its
    default, checked by ``choices`` and ``check`` (a reason to refuse a value, or None), and
    read by the family's ``build`` as ``config.option(NAME)``. A config of another family
    refuses it."""

    name: str
    default: bool | int | float | str
    help: str = ""
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], str | None] | None = None

    def coerce(self, value: Any) -> Any:
        """The value as the option's type, or a ConfigError naming the option."""
        typed = coerce(self.name, value, type(self.default))
        if self.choices is not None and typed not in self.choices:
            raise ConfigError(f"{self.name}={value!r}: choose one of {self.choices}")
        reason = self.check(typed) if self.check is not None else None
        if reason is not None:
            raise ConfigError(f"{self.name}={value!r}: {reason}")
        return typed


__all__ = ["Option"]
