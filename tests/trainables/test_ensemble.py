"""Deep ensembles in one trial (``members=M``): one member is the plain trial to the bit;
member m is exactly the plain trial of its own seed, so the ensemble's cost is the sum of
those runs' costs and its metrics are those of their mean probability; a checkpoint holds
every member and a restored ensemble continues identically."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from restoring import restored_run, same_weights

from analysis.metrics import classification_metrics
from trainables import ConfigError, run_trial
from trainables.trial import Trial, member_seeds

# noise on (each member draws from its own noise generator) and dropout on (each member draws
# from its own copy of torch's global generator): both must be kept apart per member
BASE = {"dataset": "digits", "n_train": 200, "model": "mlp", "width": 32, "depth": 2,
        "dropout": 0.2, "family": "noise", "mode": "fixed", "rho": 0.3, "K": 2, "epochs": 3,
        "batch_size": 32, "eval_batch_size": 128, "seed": 5}
TIMES = {"train_seconds", "device_seconds", "observe_seconds"}
COSTS = ("fwd_train", "fwd_reg", "fwd_eval", "fwd_test",
         "flops_train", "flops_reg", "flops_eval", "flops_test")


def _stable(rows):
    def nan_free(v):
        return "nan" if isinstance(v, float) and math.isnan(v) else v
    return [{k: nan_free(v) for k, v in row.items() if k not in TIMES} for row in rows]


def test_member_seeds():
    seeds = member_seeds(5, 4)
    assert seeds[0] == 5 and len(set(seeds)) == 4
    assert seeds == member_seeds(5, 4) and member_seeds(5, 2) == seeds[:2]
    assert seeds[1] == int(np.random.SeedSequence(5).spawn(2)[1].generate_state(1)[0])
    assert not set(member_seeds(6, 4)[1:]) & set(seeds)


def test_one_member_is_the_plain_trial_bit_for_bit():
    # one after the other: a single network draws dropout from the process's global generator
    plain = Trial(BASE)
    plain_rows = [plain.run_epoch() for _ in range(3)]
    one = Trial({**BASE, "members": 1})
    one_rows = [one.run_epoch() for _ in range(3)]
    assert _stable(one_rows) == _stable(plain_rows)
    for name, tensor in plain.model.state_dict().items():
        assert torch.equal(tensor, one.model.state_dict()[name]), name
    assert plain.state_dict().keys() == one.state_dict().keys()  # the same checkpoint format


def test_ensemble_is_its_members_run_alone():
    """Oracle: each member's seed as a plain trial; their mean test probability gives the
    ensemble's metrics (analysis.metrics) and their costs add up to the ensemble's."""
    M = 3
    ensemble = Trial({**BASE, "members": M})
    rows = [ensemble.run_epoch() for _ in range(3)]
    singles, single_rows = [], []
    for seed in member_seeds(BASE["seed"], M):  # each run whole before the next is built
        singles.append(Trial({**BASE, "seed": seed}))
        single_rows.append([singles[-1].run_epoch() for _ in range(3)])

    for m, (member, single) in enumerate(zip(ensemble.members, singles)):
        for name, tensor in single.model.state_dict().items():  # each member is its own run
            assert torch.equal(tensor, member.model.state_dict()[name]), (m, name)
    for e, row in enumerate(rows):
        for key in COSTS:
            assert row[key] == sum(r[e][key] for r in single_rows), (e, key)
        assert row["fwd_train"] == M * row["n_train"]
        assert row["train_loss"] == pytest.approx(np.mean([r[e]["train_loss"] for r in single_rows]))
        assert row["seed"] == BASE["seed"]

    mean = torch.stack([t.predictions["test"] for t in singles]).mean(dim=0)
    assert torch.equal(ensemble.predictions["test"], mean)
    expected = classification_metrics(mean.numpy(), ensemble.splits.test.y.numpy(), prefix="test_")
    for key, value in expected.items():
        assert rows[-1][key] == value, key
    assert rows[-1]["test_nll"] < np.mean([r[-1]["test_nll"] for r in single_rows])


def test_ensemble_epochs_count_every_members_training():
    """The members train one after the other, and a row counts all of them: three members'
    training passes are three single runs' (a count, not a clock: the machine is shared)."""
    one = run_trial({**BASE, "epochs": 2})
    three = run_trial({**BASE, "epochs": 2, "members": 3})
    assert [r["fwd_train"] for r in three] == [3 * r["fwd_train"] for r in one]
    assert all(r["train_seconds"] > 0 for r in three)


def test_restored_ensemble_continues_identically():
    run = restored_run({**BASE, "members": 2, "epochs": 4}, stop=2)
    assert len(run.state["members"]) == 2
    assert _stable(run.rows) == _stable(run.straight_rows)
    assert same_weights(run.straight, run.resumed)


def test_a_checkpoint_with_other_members_is_refused():
    state = Trial({**BASE, "members": 2, "epochs": 1}).state_dict()
    with pytest.raises(ConfigError, match="members"):
        Trial({**BASE, "members": 3, "epochs": 1}).load_state_dict(state)


@pytest.mark.parametrize("overrides", [{"mode": "cross_reg", "members": 2}, {"members": 0}])
def test_bad_members_name_the_key(overrides):
    with pytest.raises(ConfigError, match="members"):
        Trial({**BASE, **overrides})
