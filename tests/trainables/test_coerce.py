"""The one coercer (`trainables.coerce`): what TOML, JSON and `--set` give a field is typed
by the same rules and refused in the same words, wherever the value comes in."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from harness.errors import SpecError
from harness.experiments import overrides, registry
from trainables.coerce import ConfigError, coerce, describe
from trainables.config import TrialConfig

RHO = float | Mapping[str, float]


@pytest.mark.parametrize("value,hint,typed", [
    (1, float, 1.0), (np.float32(0.5), float, 0.5), (np.int64(3), int, 3),
    (np.bool_(True), bool, True), ([0.1, 1], tuple[float, ...], (0.1, 1.0)),
    ({"sigma_0": 1}, RHO, {"sigma_0": 1.0}), (None, int | None, None), ("mlp", str, "mlp"),
])
def test_typed_values_take_the_fields_type(value, hint, typed):
    out = coerce("key", value, hint)
    assert out == typed and type(out) is type(typed)


@pytest.mark.parametrize("text,hint,typed", [
    ("7", int, 7), ("0.5", float, 0.5), ("yes", bool, True), ("off", bool, False),
    ("0.1,1,10", tuple[float, ...], (0.1, 1.0, 10.0)), ("[pbt, asha]", tuple[str, ...], ("pbt", "asha")),
    ("none", int | None, None), ("none", str | None, None), ("none", str, "none"), ("3", int | None, 3),
])
def test_text_is_parsed_as_a_user_typed_it(text, hint, typed):
    assert coerce("key", text, hint, from_text=True) == typed


@pytest.mark.parametrize("value,hint,message", [
    (True, float, "lr=True: expected float, got bool"),  # a bool is no number
    ("ten", int, "lr='ten': expected int, got str"),
    (None, float, "lr=None: expected float"),
    ({"sigma_0": "x"}, RHO, "lr['sigma_0']='x': expected float, got str"),
    ([1, "a"], tuple[float, ...], "lr[1]='a': expected float, got str"),
])
def test_a_refusal_names_the_key_and_the_type(value, hint, message):
    with pytest.raises(ConfigError) as e:
        coerce("lr", value, hint)
    assert str(e.value) == message


def test_types_are_described_in_the_refusals_words():
    assert describe(int | None) == "int or none"
    assert describe(tuple[float, ...]) == "a list of float"
    assert describe(RHO) == "float or a table of float"


def test_toml_set_and_a_trial_config_refuse_a_value_in_the_same_words(tmp_path):
    """The experiment's TOML and a trial's JSON config type `lr` alike; `--set` says so too,
    of the text it was given."""
    f = tmp_path / "bad.toml"
    f.write_text("lr = 'fast'\n")
    with pytest.raises(SpecError) as toml:
        overrides.load_toml(f)
    with pytest.raises(ConfigError) as trial:
        TrialConfig.from_dict({"lr": "fast"})
    with pytest.raises(SpecError) as cli:
        overrides.apply(registry.get("quick"), overrides.parse_sets(["lr=fast"]))
    assert str(toml.value) == str(trial.value) == "lr='fast': expected float, got str"
    assert str(cli.value) == "--set lr='fast': expected float"
