"""The results contract in one place: column names, cost columns, metric directions, final model.

Everything that reads result rows (the loader and summary here, the harness's own result
reading, the trainables' report) takes these names and this rule from here, so that "what
a strategy cost" and "which model a strategy returns" mean the same thing everywhere.
docs/contract.md describes the same contract for people.

This module is plain Python (no numpy, no pandas): the harness imports it on a driver that
may not want pandas loaded, and :func:`final_trial` works on the dicts parsed from
``result.json`` lines as well as on rows the loader hands it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

# -- the columns of one report row (docs/contract.md, "One report row") -----------------------
# One constant per name: the trainables write a row under these names, the harness and the
# analysis read it by them (tests/test_repository.py checks that trainables/ and harness/ spell
# none of them out). The tuples below group them.

#: 1-based epoch index of the row.
EPOCH = "epoch"
#: Running means over the epoch's training steps.
TRAIN_LOSS = "train_loss"
TRAIN_ACC = "train_acc"
#: On the validation split (NaN where there is none).
VAL_LOSS = "val_loss"
VAL_ACC = "val_acc"
#: On the test split, with ``eval_samples`` draws; never used to choose anything.
TEST_LOSS = "test_loss"
TEST_ACC = "test_acc"
TEST_ECE = "test_ece"
TEST_NLL = "test_nll"
TEST_BRIER = "test_brier"
#: The test split with every stochastic regularizer switched off (:data:`DET_COLUMNS`).
TEST_ACC_DET = "test_acc_det"
TEST_ECE_DET = "test_ece_det"
TEST_NLL_DET = "test_nll_det"
#: Temperature scaling fitted on the regularization split (:data:`TS_COLUMNS`).
TS_TEMPERATURE = "ts_temperature"
TEST_ECE_TS = "test_ece_ts"
TEST_NLL_TS = "test_nll_ts"
#: On an observed, non-diverged row: True where a test prediction was not finite (NaN inputs or
#: weights), which is why every test metric of the row is NaN.
TEST_NONFINITE = "test_nonfinite"
#: Sample-forward passes and matmul/conv FLOPs of the epoch by step kind (deltas).
FWD_TRAIN = "fwd_train"
FWD_REG = "fwd_reg"
FWD_EVAL = "fwd_eval"
FWD_TEST = "fwd_test"
FLOPS_TRAIN = "flops_train"
FLOPS_REG = "flops_reg"
FLOPS_EVAL = "flops_eval"
FLOPS_TEST = "flops_test"
#: Wall seconds of the epoch's cost work, the device time it held, and the observation's seconds.
TRAIN_SECONDS = "train_seconds"
DEVICE_SECONDS = "device_seconds"
OBSERVE_SECONDS = "observe_seconds"
#: Split sizes.
N_TRAIN = "n_train"
N_REG = "n_reg"
N_TEST = "n_test"
#: What chance is on the test split (:data:`CHANCE_COLUMNS`).
TEST_MAJORITY_ACC = "test_majority_acc"
N_CLASSES = "n_classes"
#: True on the last row of a trial whose loss turned NaN/inf.
DIVERGED = "diverged"
#: Labels copied from the trial's config into every row, each under the name of the
#: ``trainables.config.TrialConfig`` field it copies (:data:`ROW_LABEL_COLUMNS`).
EXPERIMENT = "experiment"
STRATEGY = "strategy"
SEED = "seed"
ROLE = "role"
#: ``rho/<name>``: the current rho values, one column per name.
RHO_PREFIX = "rho/"
#: ``rel/<stat>_<i>``: the test split's reliability diagram, bin i = 0..14, stats
#: :data:`RELIABILITY_STATS` (sample count, mean confidence, accuracy).
RELIABILITY_PREFIX = "rel/"
RELIABILITY_STATS = ("count", "conf", "acc")
#: Ray Tune's own count of a trial's reports, in every ``result.json`` line beside the row
#: (the schedulers' ``time_attr``).
TRAINING_ITERATION = "training_iteration"
#: Ray Tune's id of the trial, in every ``result.json`` line (and on each row a checkpoint's
#: ``CHECKPOINT_ROWS_FILE`` holds: the trial that reported it).
TRIAL_ID = "trial_id"

#: Labels that identify a row of ``load_results``' frame; stored as pandas categoricals. ``task`` is
#: the row's experiment name again, under the name the across-task statistics group by: a suite
#: directory holds one run per task, each run of one experiment.
LABEL_COLUMNS = ("run", EXPERIMENT, "task", "dataset", STRATEGY, TRIAL_ID, ROLE, "status")
#: Key of one row, in order (``seed`` and ``iteration`` are int64).
KEY_COLUMNS = ("run", EXPERIMENT, STRATEGY, SEED, TRIAL_ID, "iteration")
#: What a strategy costs, in sample-forward passes per epoch (deltas, summed over every row of
#: every trial: stopped, cloned and refit ones included).
COST_COLUMNS = (FWD_TRAIN, FWD_REG, FWD_EVAL)
#: All forward-pass counters. ``fwd_test`` is the harness's own test evaluation, done for
#: every trial alike so that it can be reported; it is never part of a strategy's cost.
FWD_COLUMNS = (*COST_COLUMNS, FWD_TEST)
#: Matmul/conv FLOPs per epoch (forward and backward, deltas) by step kind: the same three kinds
#: as :data:`COST_COLUMNS`. ``flops_test`` is the harness's test evaluation, never a cost. Rows
#: written before the trainables counted FLOPs lack them: the loader gives NaN, totals show "-".
FLOPS_COST_COLUMNS = (FLOPS_TRAIN, FLOPS_REG, FLOPS_EVAL)
FLOPS_COLUMNS = (*FLOPS_COST_COLUMNS, FLOPS_TEST)
#: Device seconds per epoch: ``train_seconds`` x the share of the device (GPU, else CPUs) the
#: trial held. NaN in older rows, as the FLOPs.
DEVICE_COST_COLUMNS = (DEVICE_SECONDS,)
#: The cost axes: what a strategy's cost is summed from, per axis (every row of every trial,
#: re-run rows included). ``fwd`` is the only axis every run has; :data:`DEFAULT_COST` the price.
COST_AXES: dict[str, tuple[str, ...]] = {
    "fwd": COST_COLUMNS, "flops": FLOPS_COST_COLUMNS, "device_seconds": DEVICE_COST_COLUMNS}
#: The axis every table, curve, plot and report prices in unless told otherwise: FLOPs, because
#: forward passes misprice steps (a rho step with K=4 samples costs ~2.6 theta steps, a T1-T2 step
#: ~2.3). Runs written before the trainables counted FLOPs have none: their totals show "-" and
#: the tables say so (``cost="fwd"`` prices them in forward passes).
DEFAULT_COST = "flops"
#: Wall-clock seconds: an axis the curves, plots and sweeps offer besides the cost axes. It is
#: not a sum over rows (parallel trials overlap) but the time the (strategy, seed) took.
WALL_AXIS = "wall"
#: Row columns that may be absent (older runs): float64 in the loaded frame, NaN where absent.
OPTIONAL_COST_COLUMNS = (*FLOPS_COLUMNS, *DEVICE_COST_COLUMNS)
#: Beside a trial's result.json: rows a retry or restore re-ran (superseded by a later row of the
#: same training_iteration), or of a trial directory the restored experiment did not own. Same
#: JSON-lines format. They are cost (every total counts them) and nothing else.
RERUN_FILE = "rerun.json"
#: Metric columns every report row carries; float64 in the loaded frame.
#: The validation split's columns, and the test split's metrics (``eval_samples`` draws).
VAL_COLUMNS = (VAL_LOSS, VAL_ACC)
TEST_COLUMNS = (TEST_LOSS, TEST_ACC, TEST_ECE, TEST_NLL, TEST_BRIER)
METRIC_COLUMNS = (TRAIN_LOSS, TRAIN_ACC, *VAL_COLUMNS, *TEST_COLUMNS, TRAIN_SECONDS)
#: The final model with its noise switched off (every stochastic regularizer off: one
#: deterministic pass), beside the ``eval_samples``-sample evaluation of the ``test_*`` columns,
#: so "a stochastic predictor" and "a regularizer" are seen apart. For a deterministic model
#: they equal the ``test_*`` columns. Absent (NaN) in rows written before they existed.
DET_COLUMNS = (TEST_ACC_DET, TEST_ECE_DET, TEST_NLL_DET)
#: Temperature scaling of the epoch's model: the temperature fitted on the regularization
#: split's predictions and the test ECE and NLL after it (NaN without that split, for
#: regression, on a diverged row).
TS_COLUMNS = (TS_TEMPERATURE, TEST_ECE_TS, TEST_NLL_TS)
#: Seconds per epoch of the observation work that is never a cost: the test-split evaluation,
#: the temperature fit, metrics and reliability bins (``train_seconds`` and ``device_seconds``
#: time only what is a cost: theta steps, rho steps and the validation evaluation).
OBSERVE_COLUMNS = (OBSERVE_SECONDS,)
#: A row's flag: False where the epoch's model was not observed (``observe_every``: the test
#: split is scored every few epochs and always at the last), so its test metrics are NaN by
#: design, neither zero nor a sign of divergence. Rows without it (older runs) were observed.
OBSERVED_COLUMN = "observed"
#: What chance is on the test split, for a classifier (NaN for regression): the accuracy of
#: always predicting its most frequent class, and the number of classes (the uniform
#: predictor's NLL is log of it). :func:`collapsed` reads them.
CHANCE_COLUMNS = (TEST_MAJORITY_ACC, N_CLASSES)
#: Row columns that may be absent in older runs besides the optional costs: float64, NaN there.
OPTIONAL_METRIC_COLUMNS = (*DET_COLUMNS, *OBSERVE_COLUMNS, *CHANCE_COLUMNS)
#: Beside a trial's result.json, written at its last epoch: its per-example test predictions
#: (numpy ``.npz``), enough to recompute every test metric and to pair two models row by row.
#: Arrays: ``index`` (the test row), ``label``, ``pred`` (the predicted class, or the predicted
#: value for regression), and for classification ``confidence`` (top-class probability) and
#: ``p_true`` (probability of the true class).
PREDICTIONS_FILE = "predictions.npz"
PREDICTION_ARRAYS = ("index", "label", "pred", "confidence", "p_true")
#: In every checkpoint a trial saves: the rows its model was trained through (one JSON object
#: per line, each with the ``trial_id`` that reported it). Tune persists a checkpoint at once
#: but copies result.json to storage only now and then, so a driver that dies mid-copy (a
#: full disk, a kill) can leave result.json behind its own last checkpoint; `crossreg resume`
#: puts the missing rows back from here before the trial continues past them.
CHECKPOINT_ROWS_FILE = "rows.jsonl"
#: Which rows a final model trains theta on (metadata.json ``spec.protocol``).
#: ``equal_rows`` (default): every final model trains on the training split (the pool minus
#: the regularization/validation split), grid CV's refit included. ``full_pool``: the final
#: models of methods that need no held-out rows (fixed, deep ensemble, grid CV's refit,
#: concrete dropout, trivial augment) train on the whole pool, as a practitioner would.
PROTOCOLS = ("equal_rows", "full_pool")
#: Test metrics of the final model that the summary reports with intervals over seeds.
QUALITY_COLUMNS = (TEST_ACC, TEST_ECE, TEST_NLL)
#: Losses whose NaN/inf marks a diverged trial. Not val_loss: a grid-CV refit has no
#: validation split and reports NaN there by contract; not *_acc: regression leaves them NaN.
DIVERGENCE_COLUMNS = (TRAIN_LOSS, TEST_LOSS)
#: Split sizes reported on every row (integers).
SIZE_COLUMNS = (N_TRAIN, N_REG, N_TEST)
#: The labels copied from the config into every row (the fields of the same names).
ROW_LABEL_COLUMNS = (EXPERIMENT, STRATEGY, SEED, ROLE)
#: Every column of a report row that has a fixed name, besides the ``rho/`` and ``rel/``
#: families (:data:`RHO_PREFIX`, :data:`RELIABILITY_PREFIX`) and Ray Tune's bookkeeping.
ROW_COLUMNS = (
    EPOCH, TRAIN_LOSS, TRAIN_ACC, *VAL_COLUMNS, *TEST_COLUMNS, TEST_NONFINITE, *DET_COLUMNS,
    *TS_COLUMNS, *FWD_COLUMNS, *FLOPS_COLUMNS, TRAIN_SECONDS, DEVICE_SECONDS, *OBSERVE_COLUMNS,
    OBSERVED_COLUMN, *SIZE_COLUMNS, *CHANCE_COLUMNS, DIVERGED, *ROW_LABEL_COLUMNS,
)

#: Roles a trial can play (the ``role`` column). A ``fold`` trial trained on part of the
#: pool to score one grid point; the ``refit`` trial is what grid CV returns.
ROLES = ("single", "member", "fold", "refit")
REFIT_ROLE = "refit"
FOLD_ROLE = "fold"

#: metadata.json ``status`` of a run.
RUN_STATUSES = ("running", "finished", "interrupted")
#: metadata.json of a budget sweep (``crossreg sweep``): ``sweep`` maps each variant (the
#: ``strategy`` label of its rows and folders, e.g. ``pbt.P4``) to ``{"strategy": <base strategy>,
#: "budget": {<spec field>: <value>, ...}}``; ``sweep_reference`` names the cross-reg variant at the
#: spec's own (r, K), the one the other methods' costs are matched against.
SWEEP_KEY = "sweep"
SWEEP_REFERENCE_KEY = "sweep_reference"
#: metadata.json: ``{"<strategy>-seed<k>": why}`` for each (strategy, seed) that a resume
#: continued or restarted although its strategy does not declare an exact resume (a user's
#: own scheduler, whose in-memory state Ray 2.60 does not restore): its trials and final
#: model may differ from the same run uninterrupted, and the table says so
RESUMED_INEXACT_KEY = "resumed_inexact"
#: Completion of one (strategy, seed) as recorded in metadata.json's ``completed``; a pair
#: missing from it did not complete (``incomplete``).
COMPLETIONS = ("finished", "errored", "incomplete")

#: The validation column and direction each task selects by (never a test column).
SELECTION = {"classification": (VAL_ACC, "max"), "regression": (VAL_LOSS, "min")}

#: Strategies whose cost the others are divided by, in order of preference; a strategy whose
#: final model diverged (or is missing) in any seed is passed over.
COST_REFERENCES = ("cross_reg", "fixed")

#: Per metric kind (the name's last part): which direction is better and the values it can
#: take. ``acc`` and ``ece`` are fractions; ``brier`` of a probability vector is at most 2.
_KINDS: dict[str, tuple[str, float, float]] = {
    "acc": ("max", 0.0, 1.0),
    "ece": ("min", 0.0, 1.0),
    "nll": ("min", 0.0, math.inf),
    "brier": ("min", 0.0, 2.0),
    "loss": ("min", 0.0, math.inf),
}
#: Suffixes that leave the kind unchanged (``test_ece_ts``: ECE after temperature scaling).
_VARIANTS = ("_ts",)


def cost_columns(cost: str) -> tuple[str, ...]:
    """The row columns summed for the cost axis ``cost`` (a key of :data:`COST_AXES`); ``()`` for
    :data:`WALL_AXIS`, which is not summed over rows. ValueError for any other name."""
    if cost == WALL_AXIS:
        return ()
    if cost not in COST_AXES:
        raise ValueError(f"unknown cost axis {cost!r}: one of {', '.join([*COST_AXES, WALL_AXIS])}")
    return COST_AXES[cost]


def total_column(cost: str) -> str:
    """The summary column holding a (strategy)'s cost per seed on axis ``cost``: ``fwd_total``,
    ``flops_total``, ``device_seconds_total``, or ``wall_seconds`` for :data:`WALL_AXIS`."""
    cost_columns(cost)
    return "wall_seconds" if cost == WALL_AXIS else f"{cost}_total"


def strategy_seed_key(strategy: str, seed: int) -> str:
    """``<strategy>-seed<k>``: the folder of one (strategy, seed) and its key in metadata.json."""
    return f"{strategy}-seed{seed}"


def _kind(metric: str) -> tuple[str, float, float]:
    name = metric
    for v in _VARIANTS:
        name = name.removesuffix(v)
    kind = name.rsplit("_", 1)[-1]
    if kind not in _KINDS:
        known = ", ".join(f"{k} ({'higher' if d == 'max' else 'lower'} is better)"
                          for k, (d, _, _) in _KINDS.items())
        raise ValueError(f"unknown metric {metric!r}: the contract knows metrics ending in {known}")
    return _KINDS[kind]


def metric_mode(metric: str) -> str:
    """``"max"`` if a higher ``metric`` is better (accuracies), ``"min"`` otherwise.

    Decided by the name's last part (``test_acc`` -> acc; ``test_ece_ts`` -> ece), so that
    splits and variants need no entry of their own. An unknown metric raises ValueError
    rather than guessing a direction: a guess would silently invert a comparison.
    """
    return _kind(metric)[0]


def metric_bounds(metric: str) -> tuple[float, float]:
    """(low, high): the values ``metric`` can take (``math.inf`` where unbounded); ValueError
    for an unknown metric, as :func:`metric_mode`."""
    _, low, high = _kind(metric)
    return low, high


def collapsed(test_acc: float, test_nll: float, majority_acc: float, n_classes: float,
              n_test: float) -> bool:
    """Whether a classifier's final model learned nothing: its test accuracy is not above the
    majority-class rate by more than two binomial standard errors of that rate on ``n_test``
    rows (not distinguishable from always guessing the commonest class), or its test NLL is
    above the uniform predictor's, ``log(n_classes)`` (worse than saying nothing). Such a model
    (a run at ``lr=100``) is flagged like a diverged one and is never the cost reference.
    Unknown inputs (NaN, regression, older rows without the chance columns) decide nothing."""
    def finite(*xs: float) -> bool:
        return all(isinstance(x, numbers.Real) and math.isfinite(x) for x in xs)

    if finite(test_acc, majority_acc, n_test) and n_test > 0 and 0 <= majority_acc <= 1:
        margin = 2.0 * math.sqrt(majority_acc * (1.0 - majority_acc) / n_test)
        if test_acc <= majority_acc + margin:
            return True
    return finite(test_nll, n_classes) and n_classes >= 2 and test_nll > math.log(n_classes)


def _number(v: Any) -> float | None:
    """``v`` as a float if it is a real number (not a bool, not None/NA/text), else None."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return float(v)
    return None


def final_trial(last_rows: Mapping[str, Mapping[str, Any]], metric: str, mode: str,
                epochs: int) -> str | None:
    """The trial whose model a (strategy, seed) returns: the final-model rule.

    ``last_rows`` maps each trial id to that trial's last report row (a dict parsed from
    result.json, or the loader's row as a mapping); ``metric`` and ``mode`` are the
    spec's selection (:data:`SELECTION`: ``val_acc``/``max`` or ``val_loss``/``min``);
    ``epochs`` the spec's epochs per trial. The rule:

    1. A trial whose last row has ``role == "refit"`` wins (grid CV returns its refit on
       the whole pool, whatever the folds scored). With several, the one that ran the most
       epochs, the later in ``last_rows``' order on a tie.
    2. Otherwise, among trials whose last row reached ``epochs`` (``epoch >= epochs``: an
       ASHA-stopped trial is no candidate, though its cost counts) and carries a finite
       ``metric``, the best by ``metric`` in ``mode``; on a tie the first in order.
       ``fold`` trials are never candidates: a model trained on part of the pool to score
       a grid point is not what grid CV returns, so grid CV without its refit has none.
    3. Otherwise, if exactly one non-fold trial reached ``epochs`` and it trained with no
       validation split (``n_reg == 0``: under the ``full_pool`` protocol, a single-trial
       strategy that needs no held-out rows, ``fixed`` or ``deep_ensemble``, trains on the
       whole pool and its ``metric`` is NaN by construction), that trial: there is nothing
       to select among, and no validation score to select by. A trial that has a validation
       split and a NaN metric (diverged) is still no candidate.
    4. None when no trial qualifies (a run still going or interrupted, every candidate
       diverged): the caller decides what to show, and says so.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    refit: str | None = None
    refit_epoch = -math.inf
    best: str | None = None
    best_value = math.nan
    complete: list[str] = []  # non-fold trials that ran every epoch (rule 3)
    for trial, row in last_rows.items():
        role = row.get(ROLE)
        epoch = _number(row.get(EPOCH))
        if role == REFIT_ROLE:
            e = epoch if epoch is not None else -math.inf
            if refit is None or e >= refit_epoch:
                refit, refit_epoch = trial, e
            continue
        if refit is not None or role == FOLD_ROLE or epoch is None or epoch < epochs:
            continue
        complete.append(trial)
        value = _number(row.get(metric))
        if value is None or not math.isfinite(value):
            continue
        if best is None or (value > best_value if mode == "max" else value < best_value):
            best, best_value = trial, value
    if refit is not None:
        return refit
    if best is None and len(complete) == 1 and _number(last_rows[complete[0]].get(N_REG)) == 0:
        return complete[0]
    return best


__all__ = [
    "CHANCE_COLUMNS", "CHECKPOINT_ROWS_FILE",
    "COMPLETIONS", "COST_AXES", "COST_COLUMNS", "COST_REFERENCES", "DEFAULT_COST", "DET_COLUMNS",
    "DEVICE_COST_COLUMNS", "DEVICE_SECONDS", "DIVERGED", "DIVERGENCE_COLUMNS", "EPOCH", "EXPERIMENT", "FLOPS_COLUMNS",
    "FLOPS_COST_COLUMNS", "FLOPS_EVAL", "FLOPS_REG", "FLOPS_TEST", "FLOPS_TRAIN", "FOLD_ROLE", "FWD_COLUMNS",
    "FWD_EVAL", "FWD_REG", "FWD_TEST", "FWD_TRAIN", "KEY_COLUMNS", "LABEL_COLUMNS", "METRIC_COLUMNS", "N_CLASSES",
    "N_REG", "N_TEST", "N_TRAIN", "OBSERVED_COLUMN", "OBSERVE_COLUMNS", "OBSERVE_SECONDS", "OPTIONAL_COST_COLUMNS",
    "OPTIONAL_METRIC_COLUMNS", "PREDICTIONS_FILE", "PREDICTION_ARRAYS", "PROTOCOLS", "QUALITY_COLUMNS", "REFIT_ROLE",
    "RELIABILITY_PREFIX", "RELIABILITY_STATS", "RERUN_FILE", "RESUMED_INEXACT_KEY", "RHO_PREFIX", "ROLE", "ROLES",
    "ROW_COLUMNS", "ROW_LABEL_COLUMNS", "RUN_STATUSES", "SEED", "SELECTION", "SIZE_COLUMNS", "STRATEGY", "SWEEP_KEY",
    "SWEEP_REFERENCE_KEY", "TEST_ACC", "TEST_ACC_DET", "TEST_BRIER", "TEST_COLUMNS", "TEST_ECE", "TEST_ECE_DET",
    "TEST_ECE_TS", "TEST_LOSS", "TEST_MAJORITY_ACC", "TEST_NLL", "TEST_NLL_DET", "TEST_NLL_TS", "TEST_NONFINITE",
    "TRAINING_ITERATION", "TRAIN_ACC", "TRAIN_LOSS", "TRAIN_SECONDS", "TRIAL_ID", "TS_COLUMNS", "TS_TEMPERATURE",
    "VAL_ACC",
    "VAL_COLUMNS", "VAL_LOSS", "WALL_AXIS", "collapsed", "cost_columns", "final_trial", "metric_bounds",
    "metric_mode", "strategy_seed_key", "total_column",
]
