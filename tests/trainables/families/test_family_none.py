"""The none family: plain training, no rho to report, learn or search."""

from __future__ import annotations

import pytest

from trainables import ConfigError, TrialConfig, families, rho_names, run_trial


def test_plain_training_reports_no_rho_and_cannot_be_learned() -> None:
    family = families.get("none")
    assert not family.learnable and family.search_range is None
    row = run_trial({"dataset": "digits", "n_train": 100, "width": 8, "depth": 1, "epochs": 1})[0]
    assert not [k for k in row if k.startswith("rho/")]
    assert rho_names({"family": "none"}) == ()
    with pytest.raises(ConfigError, match="family='none'.*has no rho that cross_reg can learn"):
        TrialConfig.from_dict({"family": "none", "mode": "cross_reg"})
