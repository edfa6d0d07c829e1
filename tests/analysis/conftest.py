"""Fixture experiments written in the contract's format (docs/contract.md).

``write_experiment`` lays out ``<run>/metadata.json`` and
``<run>/<strategy>-seed<k>/<trial dir>/result.json`` the way the harness and Ray
Tune do: one JSON line per epoch, our metric keys flat, Ray's own keys
(``trial_id``, ``training_iteration``, ``config`` nested, ``date``, ``timestamp``,
``done`` ...) beside them, NaN written as Ray writes it (a bare ``NaN``).

The metrics are synthetic but designed: every trial has a ``quality`` and its
accuracies rise towards it, so the builder knows which trial each strategy must
pick as its final model and returns that (``expected_final``) for the tests to
compare against. ASHA's early-stopped trials get the best validation accuracy
at their last epoch on purpose: they must not win.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_runs import Experiment, write_experiment


@pytest.fixture
def experiment(tmp_path: Path) -> Experiment:
    return write_experiment(tmp_path)


@pytest.fixture(scope="session")
def shared_experiment(tmp_path_factory) -> Experiment:
    """One read-only experiment (5 seeds, reliability columns) shared by the slower tests."""
    return write_experiment(tmp_path_factory.mktemp("shared"), seeds=(0, 1, 2, 3, 4, 5),
                            reliability=True)
