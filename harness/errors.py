"""The one error type the CLI turns into a single line on stderr and exit code 2.

Anything the user can fix (a typo in an experiment name, a bad override, an unwritable
storage path, an unreachable cluster) raises `HarnessError` with a message that names the
offending key or value; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A user-fixable problem; the message is shown verbatim, without a traceback."""

    exit_code = 2  # bad input


class SpecError(HarnessError, ValueError):
    """An experiment spec (or an override of one) that cannot be run; names the key."""


class Interrupted(HarnessError):
    """The run stopped before every strategy and seed finished; `crossreg resume` continues."""

    exit_code = 130


class EndedShort(Interrupted):
    """No signal, yet a (strategy, seed) ended before its epochs (a trial that returned early
    without an error): recorded and resumed as an interruption, but exit 1, not 130, which
    tells a shell or a batch scheduler that someone pressed Ctrl-C."""

    exit_code = 1


class StorageFault(HarnessError):
    """The run directory stopped taking writes mid-run (permission, disk full, read-only):
    the run stops, records what it can and says so in one line; `crossreg resume` finishes
    it once the storage is fixed."""

    exit_code = 1


class TrialsFailed(HarnessError):
    """Every strategy ran, but some trials failed past their retries; `crossreg resume`
    retries them (results of the others are complete and recorded)."""

    exit_code = 1


__all__ = ["EndedShort", "HarnessError", "Interrupted", "SpecError", "TrialsFailed"]
