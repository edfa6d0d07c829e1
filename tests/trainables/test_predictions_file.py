"""A Tuner of ``train_fn`` with ``trainables.tune.run_config`` leaves ``predictions.npz`` in each
trial's storage directory beside its ``result.json`` (the worker writes it there through the
storage's file system), where the analysis reads it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.contract import PREDICTION_ARRAYS, PREDICTIONS_FILE

SMALL = {"dataset": "digits", "n_train": 160, "model": "mlp", "width": 16, "epochs": 3,
         "batch_size": 32, "device": "cpu", "family": "noise", "mode": "cross_reg", "rho": 0.3,
         "checkpoint_every": 2}  # epoch 2 checkpoints too: the file must still come at the end


@pytest.fixture(scope="module")
def ray_one_cpu(local_ray):
    with local_ray(num_cpus=1) as ray:
        yield ray


@pytest.mark.slow
def test_predictions_land_beside_result_json_and_recompute_the_last_row(ray_one_cpu, tmp_path):
    from ray import tune

    from trainables.tune import run_config, train_fn

    tuner = tune.Tuner(
        tune.with_resources(train_fn, {"cpu": 1}),
        param_space={**SMALL, "seed": tune.grid_search([0, 1])},
        run_config=run_config(str(tmp_path), "preds"))
    results = tuner.fit()
    assert not results.errors
    trial_dirs = sorted(p.parent for p in (tmp_path / "preds").glob("*/result.json"))
    assert len(trial_dirs) == 2
    for trial_dir in trial_dirs:
        rows = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]
        last = rows[-1]
        assert last["epoch"] == SMALL["epochs"]
        path = trial_dir / PREDICTIONS_FILE
        assert path.is_file(), sorted(p.name for p in trial_dir.iterdir())
        with np.load(path) as f:
            assert tuple(f.files) == PREDICTION_ARRAYS
            assert len(f["index"]) == last["n_test"]
            assert float(np.mean(f["pred"] == f["label"])) == last["test_acc"]
            nll = float(np.mean(-np.log(np.clip(f["p_true"].astype(np.float64), 1e-12, None))))
            assert nll == pytest.approx(last["test_nll"], rel=1e-6)
