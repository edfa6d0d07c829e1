"""A family declares its own knob in its own file (`Family.options`) and `--set KNOB=...`, a
TOML key, metadata.json and the Ray config reach it with no edit anywhere else: this module is
such a family (`test_family_options:FAMILY`), with a knob `scale` that multiplies its penalty."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from harness.errors import SpecError
from harness.experiments import overrides, registry
from harness.run.runner import spec_from_metadata
from trainables import run_trial
from trainables.config import ConfigError, TrialConfig
from trainables.regularizers import Family, Option, Regularizer

REF = f"{__name__}:FAMILY"
SEEN: list[float] = []  # the scale each build saw


class ScaledL2(Regularizer):
    def __init__(self, weight: torch.Tensor, rho: float, scale: float) -> None:
        super().__init__(learned=False)
        object.__setattr__(self, "weight_", weight)
        self.rho, self.scale = rho, scale

    def rho_values(self) -> dict[str, float]:
        return {"w": self.rho}

    def train_penalty(self, n_train: int) -> torch.Tensor | None:
        return self.scale * self.rho * self.weight_.pow(2).sum()


def _rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return ("w",)


def _build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
           generator: torch.Generator | None) -> Regularizer:
    scale = config.option("scale")
    SEEN.append(scale)
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    rho = config.rho if isinstance(config.rho, float) else float(next(iter(config.rho.values())))
    return ScaledL2(first.weight, rho, scale)


FAMILY = Family(name="scaled_l2", description="rho * scale * ||W_1||^2 on the training loss",
                learnable=False, stochastic=False, search_range=(1e-3, 1.0),
                rho_names=_rho_names, build=_build,
                options=(Option("scale", 1.0, help="multiplies the penalty",
                                check=lambda v: None if v > 0 else "must be > 0"),))


def _spec(*sets: str):
    return overrides.apply(registry.get("quick"),
                           overrides.parse_sets([f"family={REF}", "fixed_rho=0.5", *sets]))


def test_set_reaches_the_familys_knob_through_spec_config_and_training():
    spec = _spec("scale=3.5")
    assert spec.trial.option("scale") == 3.5
    config = spec.trial_config("fixed", 0, learned=False)
    assert config["scale"] == 3.5 and "family_options" not in config  # a flat Ray config key
    SEEN.clear()
    small = {**config, "epochs": 1, "n_train": 100}
    scaled = run_trial(small)[0]
    plain = run_trial({**small, "scale": 1.0})[0]
    assert SEEN == [3.5, 1.0]
    assert scaled["train_loss"] > plain["train_loss"]  # the knob changed what was trained
    assert spec_from_metadata({"spec": spec.to_dict()}) == spec  # metadata.json round trip
    assert _spec().trial.option("scale") == 1.0  # unset: the declared default


def test_a_toml_file_sets_it_too(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(f'base = "quick"\nfamily = "{REF}"\nscale = 2.0\n')
    assert overrides.load_toml(f).trial.option("scale") == 2.0


def test_bad_values_and_other_families_are_refused_in_one_line():
    with pytest.raises(SpecError, match=r"^--set scale='big': expected float"):
        _spec("scale=big")
    with pytest.raises(SpecError, match=r"^scale=-1.0: must be > 0$"):
        _spec("scale=-1")
    with pytest.raises(SpecError, match="unknown experiment key.*scale"):  # noise has no scale
        overrides.apply(registry.get("quick"), overrides.parse_sets(["scale=2"]))
    with pytest.raises(ConfigError, match="not an option of family 'noise'"):
        TrialConfig.from_dict({"family": "noise", "family_options": (("scale", 2.0),)})
    # a change of family drops the old family's knobs
    assert _spec("scale=2").replace(family="noise").trial.family_options == ()


def test_a_registered_familys_knob_is_its_own_and_named_as_such_elsewhere():
    """`pair` declares `pair_penalty` in its own file: `--set` reaches it with the family, and
    on another family's experiment the refusal says whose knob it is."""
    from trainables.families import get

    assert get("pair").option("pair_penalty") is not None
    assert "pair_penalty" not in {f.name for f in dataclasses.fields(TrialConfig)}
    spec = overrides.apply(registry.get("quick"),
                           overrides.parse_sets(["family=pair", "pair_penalty=cosine"]))
    assert spec.trial.option("pair_penalty") == "cosine" and spec.trial.option("pair_direction") == "agree"
    with pytest.raises(SpecError, match=r"^pair_penalty: an option of family 'pair', not of family "
                                        r"'noise' \(--set family=\.\.\. first\)$"):
        overrides.apply(registry.get("quick"), overrides.parse_sets(["pair_penalty=cosine"]))


def test_an_option_named_like_a_field_is_refused_naming_the_family():
    """An option `lr` would never get its value (the key is the field's): refused where a
    config first reads the family's options, naming the family and the file to edit."""
    from trainables.config import family_options
    from trainables.families import FAMILIES

    clashing = Family(name="clash", description="", learnable=False, stochastic=False,
                      search_range=(1e-3, 1.0), rho_names=_rho_names, build=_build,
                      options=(Option("lr", 0.1),))
    FAMILIES["clash"] = clashing
    try:
        with pytest.raises(ConfigError, match=r"^family 'clash': option\(s\) \['lr'\] would shadow"):
            family_options("clash")
    finally:
        del FAMILIES["clash"]


def test_a_run_written_before_pairs_knobs_were_its_own_still_loads():
    """Until 2026-12-06 `pair_penalty` and `pair_direction` were fields of every config, held
    at their defaults whatever the family: such a run's metadata and its trials' configs
    (which Tune restores on resume) still load; a value other than the old default is no
    legacy and is refused as before."""
    old = {**registry.get("quick").to_dict(), "pair_penalty": "l2", "pair_direction": "agree"}
    assert spec_from_metadata({"spec": old}) == registry.get("quick")
    trial = {**registry.get("quick").trial.to_dict(), "pair_penalty": "l2", "pair_direction": "agree"}
    assert TrialConfig.from_dict(trial) == registry.get("quick").trial
    with pytest.raises(ConfigError, match="pair_penalty: an option of family 'pair'"):
        TrialConfig.from_dict({**trial, "pair_penalty": "cosine"})
    pair = TrialConfig.from_dict({**trial, "family": "pair", "rho": 0.1})  # pair keeps its own
    assert dict(pair.family_options) == {"pair_penalty": "l2", "pair_direction": "agree"}
