"""What the loader says when the files are odd (a warning) or when there is nothing to load (an error)."""

from __future__ import annotations


class ResultsWarning(UserWarning):
    """Something in the result files is incomplete or odd; the load went on."""


class ResultsError(ValueError):
    """The path holds no experiment run at all (no metadata.json, no result.json below it).

    A ValueError, so a command line that maps bad input to exit code 2 does so here too:
    analysing a folder that is not an experiment is the user's mistake, not an empty result.
    """
