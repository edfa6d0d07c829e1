"""A user's own model, dataset, family and strategy, each in the user's own file and named by
reference in a TOML file, through `crossreg run --config user.toml --smoke`: nothing in the
harness or the trainables names them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NETS = '''
import math
from torch import nn

def build(input_shape, n_out):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 32), nn.LayerNorm(32),
                         nn.ReLU(), nn.Linear(32, n_out))
'''

DATA = '''
import numpy as np

def load():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + 2 * (x[:, 2] > 0)
    return x[:400], y[:400], x[400:], y[400:]
'''

# two fixed trials, at rho 0 and at rho_init: a strategy of the user's, built from the
# harness's own helpers
TWIN = '''
from ray import tune

from harness.strategies.common import Strategy, base_config, run_config, tune_config

def build(ctx):
    spec = ctx.spec
    return tune.Tuner(
        ctx.trainable,
        param_space=base_config(ctx, role="member",
                                rho=tune.grid_search([spec.per_layer(0.0), spec.per_layer(spec.rho_init)])),
        tune_config=tune_config(metric=spec.metric, mode=spec.mode, num_samples=1),
        run_config=run_config(ctx))

STRATEGY = Strategy(name="twin", description="rho 0 and rho_init side by side",
                    learns_rho=False, build=build, expected_trials=lambda spec: 2)
'''

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

def build(config, model, input_shape, generator):
    value = config.rho["temperature"] if isinstance(config.rho, dict) else config.rho
    return Temperature(model, float(value) if float(value) > 0 else 1.0, config.learned)

FAMILY = Family(name="temperature", description="logit temperature", learnable=True,
                stochastic=False, search_range=(0.3, 3.0),
                rho_names=lambda model, input_shape: ("temperature",), build=build,
                domain=positive_when_learned)
'''

STRATEGIES = '["cross_reg", "fixed", "pbt", "grid_cv", "asha", "userpkg.twin:STRATEGY"]'


@pytest.fixture(scope="module")
def user_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("user")
    pkg = root / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, text in (("nets", NETS), ("data", DATA), ("twin", TWIN), ("temperature", TEMPERATURE)):
        (pkg / f"{name}.py").write_text(text)
    return root


def _run(root: Path, toml: str, tag: str) -> tuple[Path, str]:
    config = root / f"{tag}.toml"
    config.write_text(toml)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--config", str(config),
                           "--smoke", "--concurrent", "--storage", str(root / tag)], check=False, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return next((root / tag).glob("*-smoke-*")), proc.stdout


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for f in run.glob("*-seed0/*/result.json")
            for line in f.read_text().splitlines()]


@pytest.mark.slow
def test_a_users_model_data_and_strategy_run_with_every_strategy(user_root):
    run, out = _run(user_root, f'''
base = "quick"
name = "mine"
model = "userpkg.nets:build"
dataset = "userpkg.data:load"
family = "noise"
strategies = {STRATEGIES}
''', "noise")
    table = out[out.index("experiment mine-smoke ·"):].splitlines()
    shown = {line.split()[0] for line in table[2:8]}
    assert shown == {"cross_reg", "fixed", "pbt", "grid_cv", "asha", "twin"}, "\n".join(table)
    rows = _rows(run)
    rho_columns = {k for r in rows for k in r if k.startswith("rho/")}
    assert rho_columns == {"rho/sigma_0"}  # one point, after the model's one LayerNorm
    learned = [r["rho/sigma_0"] for r in rows if r["strategy"] == "cross_reg"]
    assert learned[-1] != pytest.approx(0.1, abs=1e-4)  # cross-reg moved it from rho_init
    assert sorted({r["rho/sigma_0"] for r in rows if r["strategy"] == "twin"}) == pytest.approx([0.0, 0.1])


@pytest.mark.slow
def test_a_users_family_runs_learned_and_searched(user_root):
    run, _ = _run(user_root, '''
base = "quick"
name = "temp"
family = "userpkg.temperature:FAMILY"
rho_init = 1.0
fixed_rho = 1.0
strategies = ["cross_reg", "asha", "userpkg.twin:STRATEGY"]
''', "family")
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["completed"] == {"cross_reg-seed0": "finished", "asha-seed0": "finished",
                                 "twin-seed0": "finished"}
    rows = _rows(run)
    assert {k for r in rows for k in r if k.startswith("rho/")} == {"rho/temperature"}
    drawn = {r["rho/temperature"] for r in rows if r["strategy"] == "asha"}
    assert all(0.3 <= t <= 3.0 for t in drawn)  # the family's own search range
