"""One evaluation rule for every strategy (issue 19), on a single trial:

* ``eval_samples`` draws at every validation and test evaluation, whatever K;
* the noise-off test metrics (``test_*_det``) equal a noise-off evaluation done by hand;
* ``train_seconds`` times only cost work: the test-split observation is ``observe_seconds``,
  and it neither changes the training nor its cost when the test split grows tenfold;
* the per-example test predictions recompute the last row's test metrics.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from analysis.contract import DET_COLUMNS, OBSERVE_COLUMNS, OBSERVED_COLUMN, PREDICTION_ARRAYS
from analysis.metrics import classification_metrics
from trainables import ConfigError, run_trial
from trainables.models.noise import noise_points
from trainables.trial import Trial

SMALL = {"dataset": "digits", "n_train": 200, "model": "mlp", "width": 32, "depth": 2, "epochs": 2,
         "batch_size": 32, "reg_batch_size": 16, "eval_batch_size": 4096, "seed": 1}
COST = ("fwd_train", "fwd_reg", "fwd_eval", "flops_train", "flops_reg", "flops_eval")
TIMES = {"train_seconds", "device_seconds", "observe_seconds"}


# -- eval_samples ---------------------------------------------------------------------------

def test_fwd_eval_is_the_same_for_k1_and_k4_with_the_same_eval_samples():
    """K is the rho step's sample count only: two cross_reg trials that differ in K report the
    same validation cost every epoch (eval_samples draws of every validation row)."""
    base = {**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.3, "eval_samples": 3,
            "epochs": 3}
    k1, k4 = run_trial({**base, "K": 1}), run_trial({**base, "K": 4})
    assert [r["fwd_eval"] for r in k1] == [r["fwd_eval"] for r in k4]
    assert [r["flops_eval"] for r in k1] == [r["flops_eval"] for r in k4]
    assert all(r["fwd_eval"] == 3 * r["n_reg"] for r in k1)
    assert all(r["fwd_test"] == 3 * r["n_test"] + r["n_test"] for r in k1)  # + the noise-off pass
    # the rho steps do follow K (the test would pass vacuously if K were ignored everywhere)
    assert [4 * r["fwd_reg"] for r in k1] == [r["fwd_reg"] for r in k4]


@pytest.mark.parametrize("family,extra", [
    ("noise", {"rho": 0.3}),
    ("gaussian_dropout", {"rho": 0.3}),
    ("weight_noise", {"rho": 0.05}),
    ("concrete_dropout", {"rho": 0.1}),
])
def test_every_stochastic_family_evaluates_with_eval_samples(family, extra):
    row = run_trial({**SMALL, "family": family, "mode": "fixed", "K": 2, "eval_samples": 5,
                     "epochs": 1, **extra})[0]
    assert row["fwd_eval"] == 5 * row["n_reg"]
    assert row["fwd_test"] == 5 * row["n_test"] + row["n_test"]


@pytest.mark.parametrize("family,extra", [("none", {}), ("dropout", {"rho": 0.3}),
                                          ("noise", {"rho": 0.0})])
def test_a_model_deterministic_at_evaluation_is_evaluated_once(family, extra):
    row = run_trial({**SMALL, "family": family, "mode": "fixed", "eval_samples": 7, "epochs": 1,
                     **extra})[0]
    assert row["fwd_eval"] == row["n_reg"] and row["fwd_test"] == row["n_test"]
    for column in DET_COLUMNS:  # copied, no second pass
        assert row[column] == row[column.removesuffix("_det")]


@pytest.mark.parametrize("value", [0, -1])
def test_eval_samples_must_be_positive(value):
    with pytest.raises(ConfigError, match="eval_samples"):
        run_trial({**SMALL, "eval_samples": value})


# -- noise-off metrics ----------------------------------------------------------------------

def _by_hand_noise_off(trial: Trial) -> dict[str, float]:
    """The trained model scored on the test split with every noise point's sigma forced to
    None by hand (not through the regularizer), one eval-mode forward, metrics from
    analysis.metrics."""
    model = trial.model
    points = noise_points(model)
    held = [p.sigma for p in points]
    for p in points:
        p.sigma = None
    model.eval()
    try:
        with torch.no_grad():
            logits = model(trial.splits.test.x)
    finally:
        for p, s in zip(points, held):
            p.sigma = s
        model.train()
    probs = torch.softmax(logits.float(), dim=-1).numpy()
    return classification_metrics(probs, trial.splits.test.y.numpy(), prefix="test_")


@pytest.mark.parametrize("mode,noise_at", [("fixed", "after_affine"), ("cross_reg", "after_affine"),
                                           ("fixed", "before_affine")])
def test_noise_off_columns_equal_a_noise_off_evaluation_by_hand(mode, noise_at):
    trial = Trial({**SMALL, "family": "noise", "mode": mode, "rho": 1.0, "noise_at": noise_at})
    while not trial.done:
        row = trial.run_epoch()
    expected = _by_hand_noise_off(trial)
    for column in DET_COLUMNS:
        assert row[column] == pytest.approx(expected[column.removesuffix("_det")], rel=1e-6,
                                            abs=1e-9), column
    # a real second pass: at sigma = 1 the noisy mean prediction is another distribution
    assert row["test_nll_det"] != row["test_nll"]
    # and the noise is back on afterwards: the noisy evaluation is unchanged by the det pass
    assert all(p.sigma is not None for p in noise_points(trial.model))


def test_noise_off_of_an_ensemble_is_the_mean_of_its_noise_off_members():
    trial = Trial({**SMALL, "family": "noise", "mode": "fixed", "rho": 1.0, "members": 2,
                   "epochs": 1})
    row = trial.run_epoch()
    probs = []
    for member in trial.members:
        points = noise_points(member.model)
        for p in points:
            p.sigma = None
        member.model.eval()
        with torch.no_grad():
            probs.append(torch.softmax(member.model(trial.splits.test.x).float(), dim=-1))
    mean = torch.stack(probs).mean(dim=0).numpy()
    expected = classification_metrics(mean, trial.splits.test.y.numpy())
    assert row["test_acc_det"] == pytest.approx(expected["acc"], abs=1e-12)
    assert row["test_nll_det"] == pytest.approx(expected["nll"], rel=1e-6)


def test_regression_leaves_the_noise_off_columns_nan():
    row = run_trial({"dataset": "diabetes", "model": "mlp", "width": 16, "epochs": 1,
                     "family": "noise", "mode": "fixed", "rho": 0.5})[0]
    assert all(math.isnan(row[c]) for c in DET_COLUMNS)


def test_a_diverged_row_has_nan_noise_off_columns():
    row = run_trial({**SMALL, "family": "noise", "mode": "fixed", "rho": 0.3, "lr": 1e30,
                     "epochs": 3})[-1]
    if not row["diverged"]:
        pytest.skip("did not diverge")
    assert all(math.isnan(row[c]) for c in DET_COLUMNS)


# -- what train_seconds times ---------------------------------------------------------------

class FakeClock:
    """``time.perf_counter`` that moves only when told: a test of which clock a piece of work
    lands on that no machine load can make flaky."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def _clocked(monkeypatch, seconds_per_row: float) -> FakeClock:
    """Every prediction advances the fake clock by ``seconds_per_row`` x the rows it scored
    x its draws; nothing else advances it."""
    import trainables.engine as engine_module
    import trainables.trial as trial_module

    clock = FakeClock()
    monkeypatch.setattr(trial_module, "time", clock)
    predict = engine_module.Engine.predict

    def timed(self, x, batch_size, n_samples):
        clock.now += seconds_per_row * len(x) * n_samples
        return predict(self, x, batch_size, n_samples)

    monkeypatch.setattr(engine_module.Engine, "predict", timed)
    return clock


def test_the_test_split_observation_is_timed_in_observe_seconds_not_train_seconds(monkeypatch):
    _clocked(monkeypatch, 1.0)
    for row in run_trial({**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.3,
                          "eval_samples": 2}):
        assert row["train_seconds"] == row["fwd_eval"]  # the validation evaluation is a cost
        assert row["observe_seconds"] == row["fwd_test"]  # test + noise-off pass: observation
        assert row["device_seconds"] == row["train_seconds"]


def test_a_slow_observation_does_not_reach_train_seconds(monkeypatch):
    """With the real clock: the observation made to take 0.5 s more is all in observe_seconds."""
    import trainables.trial as trial_module

    observe = trial_module.Trial._observe

    def slow(self, counters, val_pred):
        time.sleep(0.5)
        return observe(self, counters, val_pred)

    monkeypatch.setattr(trial_module.Trial, "_observe", slow)
    for row in run_trial({**SMALL, "family": "noise", "mode": "fixed", "rho": 0.3}):
        assert row["observe_seconds"] >= 0.5
        # the training of this trial takes ~0.05 s; a 10x slower machine still stays below
        assert row["train_seconds"] < 0.5


USER_DATA = '''
import numpy as np


def _data(n_test):
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 1.0, size=(3, 12))
    y = rng.integers(0, 3, size=200 + 10_000)
    x = (centres[y] + 1.5 * rng.normal(size=(len(y), 12))).astype(np.float32)
    return x[:200], y[:200], x[200:200 + n_test], y[200:200 + n_test]


def small_test():
    return _data(300)


def big_test():
    return _data(3000)
'''


def test_train_seconds_does_not_grow_when_the_test_split_grows_tenfold(monkeypatch, user_package):
    """Two trials on the same pool, one with a test split ten times the other's: the same
    training (bit for bit: the observation draws from its own stream), the same cost columns
    and the same train_seconds, on a clock that charges every predicted row; only fwd_test,
    flops_test and observe_seconds grow."""
    pkg = user_package({"data": USER_DATA})
    _clocked(monkeypatch, 1e-3)
    base = {**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.3, "epochs": 3}
    small = run_trial({**base, "dataset": f"{pkg}.data:small_test"})
    big = run_trial({**base, "dataset": f"{pkg}.data:big_test"})
    for s, b in zip(small, big):
        assert (s["n_test"], b["n_test"]) == (300, 3000)
        for column in (*COST, "train_loss", "train_acc", "val_loss", "val_acc", "rho/sigma_0",
                       "rho/sigma_1"):
            assert s[column] == b[column], column
        for column in ("train_seconds", "device_seconds"):  # the clock's float sums differ in ulps
            assert s[column] == pytest.approx(b[column], abs=1e-9), column
        assert b["fwd_test"] == 10 * s["fwd_test"] and b["flops_test"] > s["flops_test"]
        assert b["observe_seconds"] == pytest.approx(10 * s["observe_seconds"])
        assert b["observe_seconds"] > b["train_seconds"]


def test_observation_leaves_the_training_noise_stream_alone():
    """eval_samples changes what the test evaluation draws, never the training: the rows'
    training columns are identical for eval_samples 1 and 8 when the validation is the same."""
    base = {**SMALL, "family": "noise", "mode": "fixed", "rho": 0.3, "epochs": 3, "n_folds": 4,
            "fold": -1, "role": "refit"}  # no validation split: only the observation differs
    one, eight = run_trial({**base, "eval_samples": 1}), run_trial({**base, "eval_samples": 8})
    assert [r["train_loss"] for r in one] == [r["train_loss"] for r in eight]
    assert [r["test_nll"] for r in one] != [r["test_nll"] for r in eight]


def test_observe_seconds_is_on_every_row():
    for row in run_trial({**SMALL, "epochs": 2}):
        for column in OBSERVE_COLUMNS:
            assert row[column] >= 0


# -- per-example predictions ----------------------------------------------------------------

def test_test_predictions_recompute_the_last_rows_test_metrics():
    trial = Trial({**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.3})
    while not trial.done:
        row = trial.run_epoch()
    arrays = trial.test_predictions()
    assert tuple(arrays) == PREDICTION_ARRAYS
    n = row["n_test"]
    assert all(len(a) == n for a in arrays.values())
    assert arrays["index"].dtype == np.int32 and arrays["pred"].dtype == np.int32
    assert arrays["label"].dtype == np.int32 and arrays["p_true"].dtype == np.float32
    assert (arrays["index"] == np.arange(n)).all()
    assert (arrays["label"] == trial.splits.test.y.numpy()).all()
    assert float(np.mean(arrays["pred"] == arrays["label"])) == row["test_acc"]
    nll = float(np.mean(-np.log(np.clip(arrays["p_true"].astype(np.float64), 1e-12, None))))
    assert nll == pytest.approx(row["test_nll"], rel=1e-6)
    probs = trial.predictions["test"].numpy()
    assert (arrays["confidence"] == probs.max(axis=1)).all()
    correct = arrays["pred"] == arrays["label"]
    assert (arrays["p_true"][correct] == arrays["confidence"][correct]).all()


def test_test_predictions_of_a_diverged_trial_are_marked():
    trial = Trial({**SMALL, "family": "noise", "mode": "fixed", "rho": 0.3, "lr": 1e30,
                   "epochs": 3})
    while not trial.done:
        trial.run_epoch()
    if not trial.diverged:
        pytest.skip("did not diverge")
    arrays = trial.test_predictions()
    assert (arrays["pred"] == -1).all() and np.isnan(arrays["p_true"]).all()


def test_test_predictions_of_regression_are_the_predicted_values(tmp_path):
    trial = Trial({"dataset": "diabetes", "model": "mlp", "width": 16, "epochs": 1})
    row = trial.run_epoch()
    path = trial.write_predictions(tmp_path)
    with np.load(path) as f:
        assert set(f.files) == {"index", "label", "pred"}
        mse = float(np.mean((f["pred"].astype(np.float64) - f["label"]) ** 2))
    assert mse == pytest.approx(row["test_loss"], rel=1e-5)


def test_write_predictions_round_trips(tmp_path):
    trial = Trial({**SMALL, "epochs": 1})
    trial.run_epoch()
    path = trial.write_predictions(tmp_path)
    with np.load(path) as f:
        for name, array in trial.test_predictions().items():
            assert (f[name] == array).all() and f[name].dtype == array.dtype
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.npz"]  # no temp left


# -- observation every few epochs -------------------------------------------------------------

def test_observe_every_5_of_20_epochs_scores_the_test_split_on_epochs_5_10_15_20_only():
    rows = run_trial({**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.3, "epochs": 20,
                      "observe_every": 5})
    seen = [r["epoch"] for r in rows if r[OBSERVED_COLUMN]]
    assert seen == [5, 10, 15, 20]
    for r in rows:
        test_cols = ("test_acc", "test_nll", "test_ece", *DET_COLUMNS)
        if r[OBSERVED_COLUMN]:
            assert all(math.isfinite(r[c]) for c in test_cols) and r["fwd_test"] > 0
        else:  # missing, never zero; and no observation work done or counted
            assert all(math.isnan(r[c]) for c in test_cols)
            assert r["fwd_test"] == 0 and r["flops_test"] == 0 and r["observe_seconds"] == 0.0
        assert math.isfinite(r["val_acc"])  # validation (what a search reads) is every epoch
    # observing less changes neither the training nor its cost
    every = run_trial({**SMALL, "family": "noise", "mode": "cross_reg", "rho": 0.3, "epochs": 20,
                       "observe_every": 1})
    for a, b in zip(rows, every):
        assert [a[c] for c in ("train_loss", "val_acc", *COST)] == [b[c] for c in ("train_loss", "val_acc", *COST)]
    assert rows[-1]["test_acc"] == every[-1]["test_acc"]


@pytest.mark.parametrize(("epochs", "observe_every", "interval"), [(60, 0, 6), (3, 0, 1), (20, 0, 2),
                                                                    (4, 9, 4)])
def test_observe_interval_defaults_to_about_ten_observations(epochs, observe_every, interval):
    from trainables.config import TrialConfig

    cfg = TrialConfig.from_dict({**SMALL, "epochs": epochs, "observe_every": observe_every})
    assert cfg.observe_interval == interval


def test_a_diverged_end_is_observed():
    rows = run_trial({**SMALL, "family": "noise", "mode": "fixed", "rho": 0.1, "epochs": 20,
                      "observe_every": 7, "lr": 1e6, "optimizer": "sgd", "momentum": 0.0})
    assert rows[-1]["diverged"] and rows[-1][OBSERVED_COLUMN]
