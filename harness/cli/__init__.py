"""The command line, `crossreg` (`python -m harness.cli`).

    commands.py      the parser and every command: run, sweep, resume, suite, list, keys,
                     analyze, report, linear-demo
    help.py          `crossreg keys` and the exit codes of `--help`
    suite_command.py `crossreg suite` and what it prints
"""

from harness.cli.commands import main

__all__ = ["main"]
