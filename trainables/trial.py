"""One trial: data, model, regularizer and engine for a `TrialConfig`, epoch by epoch.

`Trial` is what both entry points drive: `run_trial(config)` in a plain Python session and
`trainables.tune.train_fn` under Ray Tune. Its full state (weights, both optimisers, rho,
every generator, epoch; every member's, for a deep ensemble) round-trips through
`state_dict`, so a run restored at epoch e and continued is identical, on CPU, to an
uninterrupted one.

Every row carries the trial's cost (forward passes, matmul/conv FLOPs, `train_seconds` and
`device_seconds` = train_seconds x `device_share`) and, where a regularization split exists,
the test metrics after temperature scaling fitted on it (`trainables.calibration`).

One evaluation rule for every strategy: a model that is random at evaluation averages
``eval_samples`` draws (a config field, never K) at every validation and test evaluation, and
is also scored on the test split with its noise switched off (``test_*_det``). The test-split
observation is timed apart (``observe_seconds``), draws its noise from a stream of its own,
and its passes count in ``fwd_test``/``flops_test``: it never changes what the trial trains or
what it costs. At its last epoch a trial's per-example test predictions are available from
`Trial.test_predictions` (written as ``predictions.npz`` by `trainables.tune.train_fn`).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from analysis.contract import (
    CHANCE_COLUMNS,
    DET_COLUMNS,
    DEVICE_SECONDS,
    DIVERGED,
    EPOCH,
    EXPERIMENT,
    N_CLASSES,
    N_REG,
    N_TEST,
    N_TRAIN,
    OBSERVE_SECONDS,
    OBSERVED_COLUMN,
    PREDICTIONS_FILE,
    RELIABILITY_PREFIX,
    RELIABILITY_STATS,
    RHO_PREFIX,
    ROLE,
    SEED,
    STRATEGY,
    TEST_ACC,
    TEST_COLUMNS,
    TEST_ECE_TS,
    TEST_MAJORITY_ACC,
    TEST_NLL_TS,
    TEST_NONFINITE,
    TRAIN_ACC,
    TRAIN_LOSS,
    TRAIN_SECONDS,
    TS_COLUMNS,
    TS_TEMPERATURE,
    VAL_ACC,
    VAL_COLUMNS,
)
from analysis.metrics import classification_metrics, reliability_bins

from . import families
from .calibration import fit_temperature, scale_probs
from .config import ConfigError, TrialConfig
from .engine import Counters, Engine, FlopMeter
from .joint import train_joint_epoch
from .member import Member, member_seeds, resolve_device
from .regularizers import Regularizer

if TYPE_CHECKING:
    from .datasets import Splits

class Trial:
    """A training run that advances one epoch at a time and reports one row per epoch.

    With ``members=M > 1`` the trial is a deep ensemble: M networks trained on the same
    split, one after the other within each epoch, each with its own seed (`member_seeds`),
    optimisers and generators, so each is exactly the plain trial of its seed. Its rows
    report the ensemble (the mean probability of the members, or their mean output for
    regression) and the sum of the members' costs.

    A family of several networks (``Family.networks = N > 1``, e.g. ``pair``) builds N members
    the same way (seeds `member_seeds(seed, N)`) but trains them together
    (`trainables.joint`): every step all of them take the same batch, in member 0's batch
    order, and one gradient of their summed losses plus the family's coupling term updates
    them all. Rows, predictions, costs and checkpoints are those of an ensemble.
    """

    def __init__(self, config: Mapping[str, Any] | TrialConfig) -> None:
        from .data import DataError, load_splits

        self.config = cfg = TrialConfig.from_dict(config)
        self.device = resolve_device(cfg.device)
        try:
            self.splits = load_splits(
                cfg.dataset, data_dir=cfg.data_dir, download=cfg.download, n_train=cfg.n_train,
                reg_fraction=cfg.reg_fraction, split_seed=cfg.split_seed, n_folds=cfg.n_folds,
                fold=cfg.fold, device=str(self.device), label_noise=cfg.label_noise)
        except DataError as exc:
            raise ConfigError(f"dataset={cfg.dataset!r}: {exc}") from exc
        meter = FlopMeter()
        networks = families.get(cfg.family).networks
        #: whether the networks train together (a family of several, e.g. pair: `trainables.joint`)
        self.joint = networks > 1
        count = networks if self.joint else cfg.members
        self.members = [Member(cfg, seed, self.splits, self.device, meter, own_global_rng=count > 1)
                        for seed in member_seeds(cfg.seed, count)]
        self.epoch = 0
        self.diverged = False
        #: what chance is on this test split (`CHANCE_COLUMNS`), so that the analysis can tell a
        #: model that learned nothing (`analysis.contract.collapsed`); NaN for regression
        self.chance = _chance(self.splits)
        #: the (mean) predictions of the last evaluation: {"val": ..., "test": ...}, on the device
        self.predictions: dict[str, torch.Tensor] = {}

    # a single network's parts (member 0 of an ensemble)

    @property
    def model(self) -> nn.Module:
        return self.members[0].model

    @property
    def regularizer(self) -> Regularizer:
        return self.members[0].regularizer

    @property
    def engine(self) -> Engine:
        return self.members[0].engine

    # -- running --------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.diverged or self.epoch >= self.config.epochs

    def run_epoch(self) -> dict[str, Any]:
        """Train one epoch, evaluate, and return the report row (docs/contract.md).

        Two clocks. ``train_seconds`` (and ``device_seconds``) time only what a strategy pays
        for: the theta steps, the rho steps and the validation evaluation (its forward passes,
        loss and accuracy: what a search reads). ``observe_seconds`` times the harness's own
        observation, done for every trial alike so that it can be reported and never a cost:
        the test-split evaluation, the noise-off pass, the temperature fit, the test metrics
        and the reliability bins (`_observe`). A bigger test split then costs nothing.
        """
        cfg, splits = self.config, self.splits
        start = time.perf_counter()
        reg = splits.reg
        counters = Counters()
        losses, accs = [], []
        if self.joint:
            joint = train_joint_epoch([m.engine for m in self.members],
                                      [m.turn for m in self.members], splits.train.x, splits.train.y)
            counters.add(joint.counters)
            losses, accs = joint.losses, joint.accs
            self.diverged = self.diverged or joint.diverged
        else:
            for member in self.members:
                with member.turn():
                    stats = member.engine.train_epoch(splits.train.x, splits.train.y,
                                                      reg.x if reg is not None else None,
                                                      reg.y if reg is not None else None)
                counters.add(stats.counters)
                losses.append(stats.loss)
                accs.append(stats.acc)
                self.diverged = self.diverged or stats.diverged
        self.epoch += 1
        row: dict[str, Any] = {EPOCH: self.epoch, TRAIN_LOSS: _mean(losses), TRAIN_ACC: _mean(accs)}
        self.predictions = {}
        val_pred = None
        if self.diverged:
            row.update(dict.fromkeys(VAL_COLUMNS, math.nan))
        elif reg is not None:
            val_pred = self._predict(reg.x, counters, "eval")
            val = self._metrics(val_pred, reg.y, "val_")
            row.update({k: val[k] for k in VAL_COLUMNS})
        else:
            row.update(dict.fromkeys(VAL_COLUMNS, math.nan))
        self._synchronize()
        seconds = time.perf_counter() - start
        # every observe_interval epochs, and always at the end: a final model is observed
        observed = self.done or self.epoch % cfg.observe_interval == 0
        observe_seconds = 0.0
        if observed:
            observe_start = time.perf_counter()
            with contextlib.ExitStack() as stack:
                for member in self.members:
                    stack.enter_context(member.observing())
                row.update(self._observe(counters, val_pred))
            self._synchronize()
            observe_seconds = time.perf_counter() - observe_start
        else:  # missing, not zero: the analysis reads these rows as unobserved
            row.update(_nan_observation())
        row.update({f"{RHO_PREFIX}{k}": v for k, v in self.regularizer.rho_values().items()})
        row.update(counters.as_dict())
        share = 1.0 if cfg.device_share is None else cfg.device_share
        row.update({
            TRAIN_SECONDS: seconds,
            DEVICE_SECONDS: seconds * share,
            OBSERVE_SECONDS: observe_seconds, OBSERVED_COLUMN: observed,
            N_TRAIN: len(splits.train), N_REG: len(reg) if reg is not None else 0,
            N_TEST: len(splits.test), **self.chance, DIVERGED: self.diverged,
            EXPERIMENT: cfg.experiment, STRATEGY: cfg.strategy, SEED: cfg.seed, ROLE: cfg.role,
        })
        return row

    def _synchronize(self) -> None:
        """Wait for the device's queued work, so that a clock read after it times that work."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _observe(self, counters: Counters, val_pred: torch.Tensor | None) -> dict[str, Any]:
        """The observation of this epoch's model, never a cost (timed in ``observe_seconds``):
        the test metrics with ``eval_samples`` draws and the reliability bins, the noise-off
        test metrics (`DET_COLUMNS`) and the temperature-scaled ones. Its forward passes and
        FLOPs go to ``fwd_test``/``flops_test``. A diverged model gets NaN throughout."""
        splits, reg = self.splits, self.splits.reg
        if self.diverged:
            return _nan_observation()
        test_pred = self._predict(splits.test.x, counters, "test")
        test = self._metrics(test_pred, splits.test.y, "test_")
        return {**test, **self._noise_off(test, counters),
                **self._temperature_scaled(val_pred, reg.y if reg is not None else None,
                                           test_pred, splits.test.y)}

    def _noisy_at_eval(self) -> bool:
        """Whether any network's prediction is random at evaluation (a second, noise-off pass
        then differs from the ``eval_samples``-draw one)."""
        n = self.config.eval_samples
        return any(m.regularizer.noisy_at_eval() or m.regularizer.eval_samples(n) > 1
                   for m in self.members)

    def _noise_off(self, test: Mapping[str, Any], counters: Counters) -> dict[str, float]:
        """``test_acc_det``, ``test_ece_det``, ``test_nll_det``: the test split scored with every
        stochastic regularizer switched off (`Regularizer.off`: one deterministic pass of the
        eval-mode network), so that "a stochastic predictor" and "a regularizer" are seen
        apart. A model that is deterministic at evaluation copies its test metrics (no second
        pass); regression leaves them NaN, like the other accuracy-type metrics."""
        if not self._noisy_at_eval():
            return {c: test[c.removesuffix("_det")] for c in DET_COLUMNS}
        pred = self._predict(self.splits.test.x, counters, "test", noise_off=True)
        if self.splits.task != "classification":
            return {c: math.nan for c in DET_COLUMNS}
        m = classification_metrics(pred.cpu().numpy(), self.splits.test.y.cpu().numpy(),
                                   prefix="test_")
        return {c: m[c.removesuffix("_det")] for c in DET_COLUMNS}

    def _predict(self, x: torch.Tensor, counters: Counters, split: str, *,
                 noise_off: bool = False) -> torch.Tensor:
        """The (ensemble's mean) prediction on ``x``, averaging ``eval_samples`` draws where the
        model is random at evaluation; its cost is added to ``counters`` under
        ``fwd_eval``/``flops_eval`` (the validation split) or ``fwd_test``/``flops_test``.
        ``noise_off``: one pass with every regularizer switched off (`Regularizer.off`)."""
        preds = []
        for member in self.members:
            n_samples = 1 if noise_off else member.regularizer.eval_samples(self.config.eval_samples)
            off = member.regularizer.off() if noise_off else contextlib.nullcontext()
            with member.turn(), off:
                pred, fwd, flops = member.engine.predict(x, self.config.eval_batch_size, n_samples)
            preds.append(pred)
            setattr(counters, f"fwd_{split}", getattr(counters, f"fwd_{split}") + fwd)
            setattr(counters, f"flops_{split}", getattr(counters, f"flops_{split}") + flops)
        mean = preds[0] if len(preds) == 1 else torch.stack(preds).mean(dim=0)
        key = "val" if split == "eval" else split
        self.predictions[f"{key}_det" if noise_off else key] = mean
        return mean

    def test_predictions(self) -> dict[str, np.ndarray]:
        """The per-example test predictions of the last epoch (`PREDICTION_ARRAYS`), enough to
        recompute every test metric and to pair two models row by row: ``index`` (the test
        row), ``label``, ``pred`` (the predicted class; the predicted value for regression),
        and for classification ``confidence`` (top-class probability) and ``p_true`` (the
        probability of the true class), from the same ``eval_samples``-draw mean probability
        as ``test_acc``. int32 / float32. A diverged model (no test evaluation) or a row with
        a non-finite probability gets ``pred = -1`` and NaN probabilities (NaN ``pred`` for
        regression): its metrics are NaN too."""
        if self.epoch == 0:
            raise RuntimeError("test_predictions: the trial has not run an epoch yet")
        y = self.splits.test.y.cpu().numpy()
        n = len(y)
        index = np.arange(n, dtype=np.int32)
        pred = self.predictions.get("test")
        if self.splits.task != "classification":
            values = (np.full(n, np.nan, dtype=np.float32) if pred is None
                      else pred.float().cpu().numpy().reshape(n).astype(np.float32))
            return {"index": index, "label": y.astype(np.float32), "pred": values}
        label = y.astype(np.int32)
        if pred is None:
            probs = np.full((n, self.splits.n_classes), np.nan, dtype=np.float32)
        else:
            probs = pred.float().cpu().numpy().astype(np.float32)
        finite: np.ndarray = np.asarray(np.isfinite(probs).all(axis=1))
        top = np.where(finite, np.argmax(np.where(finite[:, None], probs, 0.0), axis=1), -1)
        confidence = np.where(finite, probs.max(axis=1, initial=-np.inf), np.nan)
        p_true = np.where(finite, probs[index, label], np.nan)
        return {"index": index, "label": label, "pred": top.astype(np.int32),
                "confidence": confidence.astype(np.float32), "p_true": p_true.astype(np.float32)}

    def write_predictions(self, directory: str | os.PathLike[str]) -> str:
        """Write `test_predictions` as ``<directory>/predictions.npz`` (`PREDICTIONS_FILE`,
        ``numpy.savez_compressed``, through a temporary file renamed into place so that a
        reader or a sync never sees half a file); returns the path."""
        path = os.path.join(os.fspath(directory), PREDICTIONS_FILE)
        fd, tmp = tempfile.mkstemp(dir=os.fspath(directory), suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **self.test_predictions())  # type: ignore[arg-type]
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return path

    def _metrics(self, pred: torch.Tensor, y: torch.Tensor, prefix: str) -> dict[str, Any]:
        flag: dict[str, Any] = {}
        if prefix == "test_":  # NaN inputs or weights: every test metric is NaN (flagged)
            flag[TEST_NONFINITE] = not bool(torch.isfinite(pred).all())
        if self.splits.task == "classification":
            probs, labels = pred.cpu().numpy(), y.cpu().numpy()
            m = classification_metrics(probs, labels, prefix=prefix)
            m[f"{prefix}loss"] = m[f"{prefix}nll"]
            if prefix == "test_":  # the reliability diagram of the test split, bin by bin
                bins = reliability_bins(probs, labels)
                for i in range(len(bins["count"])):  # rel/count_i, rel/conf_i, rel/acc_i
                    for stat, key in zip(RELIABILITY_STATS, ("count", "confidence", "accuracy")):
                        m[f"{RELIABILITY_PREFIX}{stat}_{i}"] = float(bins[key][i])
        else:
            m = _nan_metrics(prefix.rstrip("_"))
            m[f"{prefix}loss"] = float(torch.mean((pred - y.float()) ** 2))
        return {**m, **flag}

    def _temperature_scaled(self, val_pred: torch.Tensor | None, val_y: torch.Tensor | None,
                            test_pred: torch.Tensor, test_y: torch.Tensor) -> dict[str, float]:
        """``ts_temperature``, ``test_ece_ts``, ``test_nll_ts``: the temperature fitted on the
        regularization split's predictions (`trainables.calibration`) and the test metrics
        after it. NaN without a regularization split (a refit) and for regression."""
        if self.splits.task != "classification" or val_pred is None or val_y is None:
            return _nan_ts()
        temperature = fit_temperature(val_pred.cpu().numpy(), val_y.cpu().numpy())
        labels = test_y.cpu().numpy()
        scaled = classification_metrics(scale_probs(test_pred.cpu().numpy(), temperature), labels)
        return {TS_TEMPERATURE: temperature, TEST_ECE_TS: scaled["ece"], TEST_NLL_TS: scaled["nll"]}

    # -- checkpointing --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a restored trial needs to continue identically: a single network's
        state at the top level; an ensemble's as the list ``members``, one state each."""
        state: dict[str, Any] = {"epoch": self.epoch, "diverged": self.diverged}
        if len(self.members) == 1:
            state.update(self.members[0].state_dict())
        else:
            state["members"] = [member.state_dict() for member in self.members]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a checkpoint. In fixed mode rho comes from this trial's config, not the
        checkpoint: PBT restores a donor's weights under the recipient's new hyperparameters."""
        states = state.get("members", [state])
        if len(states) != len(self.members):
            raise ConfigError(f"members={len(self.members)}: the checkpoint holds "
                              f"{len(states)} member(s)")
        self.epoch = int(state["epoch"])
        self.diverged = bool(state["diverged"])
        for member, member_state in zip(self.members, states):
            member.load_state_dict(member_state, self.config.learned)


def _nan_metrics(split: str) -> dict[str, float]:
    return {f"{split}_{m}": math.nan for m in ("loss", "acc", "ece", "nll", "brier")}


def _chance(splits: Splits) -> dict[str, float]:
    """The test split's majority-class rate and the number of classes (NaN for regression)."""
    if splits.task != "classification":
        return dict.fromkeys(CHANCE_COLUMNS, math.nan)
    counts = np.bincount(splits.test.y.cpu().numpy().astype(np.int64), minlength=splits.n_classes)
    return {TEST_MAJORITY_ACC: float(counts.max() / max(1, counts.sum())),
            N_CLASSES: float(splits.n_classes)}


def _nan_ts() -> dict[str, float]:
    return dict.fromkeys(TS_COLUMNS, math.nan)


def _nan_observation() -> dict[str, float]:
    """An unobserved (or diverged) row's test, noise-off and temperature-scaled columns: NaN."""
    return dict.fromkeys((*TEST_COLUMNS, *DET_COLUMNS, *TS_COLUMNS), math.nan)


def _mean(values: list[float]) -> float:
    """A single member's value as it is (bit for bit), else the members' mean."""
    return values[0] if len(values) == 1 else float(np.mean(values))


def run_trial(config: Mapping[str, Any] | TrialConfig,
              progress: bool | Callable[[str], None] = False) -> list[dict[str, Any]]:
    """Train one trial without Ray and return its report rows, one per epoch (each row's
    costs are that epoch's: a run's total is the sum over its rows).

    `progress`: a line per epoch (`epoch 3/60 · train_loss 0.512 · val_acc 0.871 · 0.8 s/epoch
    · ETA 0:45`, with test_acc on the epochs the test split is observed), printed, or given
    to a callable."""
    trial = Trial(config)
    say = (print if progress is True else progress) or None
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    while not trial.done:
        rows.append(trial.run_epoch())
        if say is not None:
            say(_progress_line(rows[-1], trial.config.epochs, time.perf_counter() - start))
    return rows


def _progress_line(row: Mapping[str, Any], epochs: int, elapsed: float) -> str:
    per_epoch = elapsed / row[EPOCH]
    parts = [f"epoch {row[EPOCH]}/{epochs}", f"{TRAIN_LOSS} {row[TRAIN_LOSS]:.4g}"]
    for key in (VAL_ACC, TEST_ACC):
        if isinstance(row.get(key), float) and math.isfinite(row[key]):
            parts.append(f"{key} {row[key]:.4f}")
    hours, rest = divmod(round(per_epoch * (epochs - row[EPOCH])), 3600)
    eta = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
    parts += [f"{per_epoch:.2g} s/epoch", f"ETA {eta}"]
    return " · ".join(parts)
