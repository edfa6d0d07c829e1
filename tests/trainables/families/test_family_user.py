"""A family brought by a user: declared in the user's own file, named by reference, run
through run_trial in fixed and cross_reg mode; nothing in trainables/ names it."""

from __future__ import annotations

import pytest
import torch

from trainables import ConfigError, check_config, families, rho_names, run_trial
from trainables.trial import Trial

#: a logit temperature as a family: rho = T, the model's outputs are divided by T (a forward
#: hook), so T enters the forward pass and cross_reg learns it on the regularization split
TEMPERATURE = '''
import math

import torch
from torch import nn

from trainables.regularizers import Family, Regularizer, positive_when_learned


class Temperature(Regularizer):
    def __init__(self, model, value, learned):
        super().__init__(learned)
        self.log_t = nn.Parameter(torch.tensor(math.log(value)), requires_grad=learned)
        model.register_forward_hook(lambda module, inputs, output: output / self.log_t.exp())

    def rho_values(self):
        return {"temperature": float(self.log_t.detach().exp())}


def rho_names(model, input_shape):
    return ("temperature",)


def build(config, model, input_shape, generator):
    value = config.rho["temperature"] if isinstance(config.rho, dict) else config.rho
    return Temperature(model, float(value), config.learned)


FAMILY = Family(name="temperature", description="logit temperature", learnable=True,
                stochastic=False, search_range=(0.1, 10.0), rho_names=rho_names, build=build,
                domain=positive_when_learned)
NOT_A_FAMILY = "temperature"
'''

SMALL = {"dataset": "digits", "n_train": 150, "width": 16, "depth": 1, "epochs": 2, "batch_size": 32,
             "reg_batch_size": 32, "eval_batch_size": 256, "seed": 6}


@pytest.fixture
def temperature(user_package) -> str:
    return f"{user_package({'temperature': TEMPERATURE})}.temperature"


def test_fixed_at_one_is_plain_training_and_other_values_are_not(temperature) -> None:
    family = f"{temperature}:FAMILY"
    assert families.get(family).name == "temperature"
    assert rho_names({**SMALL, "family": family}) == ("temperature",)
    one, plain, hot = (Trial(c) for c in ({**SMALL, "family": family, "rho": 1.0},
                                          {**SMALL, "family": "none"},
                                          {**SMALL, "family": family, "rho": 3.0}))
    for _ in range(SMALL["epochs"]):
        rows = [t.run_epoch() for t in (one, plain, hot)]
    assert rows[0]["rho/temperature"] == 1.0 and rows[2]["rho/temperature"] == pytest.approx(3.0)
    reference = plain.model.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in one.model.state_dict().items())
    assert not all(torch.equal(v, reference[k]) for k, v in hot.model.state_dict().items())


def test_cross_reg_learns_the_temperature(temperature) -> None:
    rows = run_trial({**SMALL, "family": f"{temperature}:FAMILY", "mode": "cross_reg",
                      "rho": 1.0, "rho_lr": 0.05})
    assert [k for k in rows[-1] if k.startswith("rho/")] == ["rho/temperature"]
    assert rows[-1]["rho/temperature"] != pytest.approx(1.0, abs=1e-3)
    assert rows[-1]["fwd_reg"] > 0


def test_its_domain_and_a_reference_that_is_not_a_family(temperature) -> None:
    with pytest.raises(ConfigError, match=r"rho=0.0: cross_reg learns it in log space"):
        check_config({**SMALL, "family": f"{temperature}:FAMILY", "mode": "cross_reg", "rho": 0.0})
    with pytest.raises(ConfigError, match=r"family='.*:NOT_A_FAMILY' is a str, not a"):
        check_config({**SMALL, "family": f"{temperature}:NOT_A_FAMILY"})
