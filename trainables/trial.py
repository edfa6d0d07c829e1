"""One trial: data, model, regularizer and engine for a `TrialConfig`, epoch by epoch.

`Trial` is what both entry points drive: `run_trial(config)` in a plain Python session and
`trainables.tune.train_fn` under Ray Tune. Its full state (weights, both optimisers, rho,
every generator, epoch) round-trips through `state_dict`, so a run restored at epoch e and
continued is identical, on CPU, to an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from analysis.metrics import classification_metrics, reliability_bins

from . import families
from .config import ConfigError, TrialConfig
from .engine import Engine
from .regularizers import Regularizer

#: separate streams of the run's seed, so that e.g. turning noise on never changes the shuffling
_STREAM_SHUFFLE, _STREAM_REG, _STREAM_NOISE = 1, 2, 3


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r}: CUDA is not available on this machine")
    return device


def _generator(device: torch.device, seed: int, stream: int) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(np.random.SeedSequence([seed, stream]).generate_state(1)[0]))
    return g


def build_network(cfg: TrialConfig, input_shape: tuple[int, ...], n_out: int) -> nn.Module:
    """The trial's model, checked by one forward pass of a two-sample batch of zeros (in eval
    mode, without gradients: no random numbers, no BatchNorm statistics): a model that cannot
    be built or does not map ``(2, *input_shape)`` to ``(2, n_out)`` is a ConfigError naming it.
    """
    from .models import build_model

    try:
        model = build_model(cfg.model, input_shape, n_out, width=cfg.width, depth=cfg.depth,
                            dropout=cfg.dropout, norm=cfg.norm)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model={cfg.model!r}: {exc}") from exc
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, *input_shape))
    except Exception as exc:  # the model's own code, possibly a user's: one line, cause chained
        raise ConfigError(f"model={cfg.model!r}: a forward pass of a batch shaped "
                          f"{(2, *input_shape)} raised {type(exc).__name__}: {exc}") from exc
    finally:
        model.train(training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_out):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"model={cfg.model!r}: a batch shaped {(2, *input_shape)} must give "
                          f"outputs shaped (2, {n_out}) (batch, n_out), got {got}")
    return model


def build_regularizer(cfg: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
                      generator: torch.Generator | None) -> Regularizer:
    """The regularizer of ``cfg.family`` on ``model`` (its rho names and domain checked there)."""
    return families.get(cfg.family).regularizer(cfg, model, input_shape, generator)


class Trial:
    """A training run that advances one epoch at a time and reports one row per epoch."""

    def __init__(self, config: Mapping[str, Any] | TrialConfig) -> None:
        from .data import DataError, load_splits

        self.config = cfg = TrialConfig.from_dict(config)
        self.device = resolve_device(cfg.device)
        try:
            self.splits = load_splits(
                cfg.dataset, data_dir=cfg.data_dir, download=cfg.download, n_train=cfg.n_train,
                reg_fraction=cfg.reg_fraction, split_seed=cfg.split_seed, n_folds=cfg.n_folds,
                fold=cfg.fold, device=str(self.device))
        except DataError as exc:
            raise ConfigError(f"dataset={cfg.dataset!r}: {exc}") from exc
        task = self.splits.task
        n_out = self.splits.n_classes if task == "classification" else 1
        torch.manual_seed(cfg.seed)  # model initialisation and dropout draw from the run's seed
        self.model = build_network(cfg, self.splits.input_shape, n_out)
        self.model.to(self.device)
        if cfg.channels_last and self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
        noise_generator = _generator(self.device, cfg.seed, _STREAM_NOISE)
        self.regularizer = build_regularizer(cfg, self.model, self.splits.input_shape,
                                             noise_generator).to(self.device)
        theta_params = [p for p in self.model.parameters()
                        if id(p) not in {id(q) for q in self.regularizer.parameters()}]
        rho_params = self.regularizer.rho_parameters()
        self.engine = Engine(
            self.model, self.regularizer, task=task,
            theta_optimizer=_optimizer(cfg.optimizer, theta_params, cfg.lr, cfg.weight_decay, cfg.momentum),
            rho_optimizer=_optimizer(cfg.rho_optimizer, rho_params, cfg.rho_lr, 0.0, cfg.momentum)
            if rho_params else None,
            r=cfg.r, K=cfg.K, batch_size=cfg.batch_size, reg_batch_size=cfg.reg_batch_size,
            shuffle_generator=_generator(torch.device("cpu"), cfg.seed, _STREAM_SHUFFLE),
            reg_generator=_generator(torch.device("cpu"), cfg.seed, _STREAM_REG),
            autocast_dtype=torch.bfloat16 if cfg.bf16 else None,
            channels_last=cfg.channels_last and self.device.type == "cuda",
        )
        self.epoch = 0
        self.diverged = False

    # -- running --------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.diverged or self.epoch >= self.config.epochs

    def run_epoch(self) -> dict[str, Any]:
        """Train one epoch, evaluate, and return the report row (docs/contract.md)."""
        cfg, splits = self.config, self.splits
        start = time.perf_counter()
        reg = splits.reg
        stats = self.engine.train_epoch(splits.train.x, splits.train.y,
                                        reg.x if reg is not None else None,
                                        reg.y if reg is not None else None)
        self.epoch += 1
        counters = stats.counters
        row: dict[str, Any] = {"epoch": self.epoch, "train_loss": stats.loss, "train_acc": stats.acc}
        if stats.diverged:
            self.diverged = True
            row.update({"val_loss": math.nan, "val_acc": math.nan}, **_nan_metrics("test"))
        else:
            k_eval = self.regularizer.eval_samples(cfg.K)
            if reg is not None:
                val, cost = self._evaluate(reg.x, reg.y, k_eval, "val_")
                counters.fwd_eval += cost
            else:
                val = _nan_metrics("val")
            test, cost = self._evaluate(splits.test.x, splits.test.y, k_eval, "test_")
            counters.fwd_test += cost
            row.update({k: val[k] for k in ("val_loss", "val_acc")}, **test)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        row.update({f"rho/{k}": v for k, v in self.regularizer.rho_values().items()})
        row.update(counters.as_dict())
        row.update({
            "train_seconds": time.perf_counter() - start,
            "n_train": len(splits.train), "n_reg": len(reg) if reg is not None else 0,
            "n_test": len(splits.test), "diverged": self.diverged,
            "experiment": cfg.experiment, "strategy": cfg.strategy, "seed": cfg.seed, "role": cfg.role,
        })
        return row

    def _evaluate(self, x: torch.Tensor, y: torch.Tensor, n_samples: int, prefix: str) -> tuple[dict, int]:
        pred, cost = self.engine.predict(x, self.config.eval_batch_size, n_samples)
        flag: dict[str, Any] = {}
        if prefix == "test_":  # NaN inputs or weights: every test metric is NaN (flagged)
            flag["test_nonfinite"] = not bool(torch.isfinite(pred).all())
        if self.splits.task == "classification":
            probs, labels = pred.cpu().numpy(), y.cpu().numpy()
            m = classification_metrics(probs, labels, prefix=prefix)
            m[f"{prefix}loss"] = m[f"{prefix}nll"]
            if prefix == "test_":  # the reliability diagram of the test split, bin by bin
                bins = reliability_bins(probs, labels)
                for i in range(len(bins["count"])):
                    m[f"rel/count_{i}"] = float(bins["count"][i])
                    m[f"rel/conf_{i}"] = float(bins["confidence"][i])
                    m[f"rel/acc_{i}"] = float(bins["accuracy"][i])
        else:
            m = _nan_metrics(prefix.rstrip("_"))
            m[f"{prefix}loss"] = float(torch.mean((pred - y.float()) ** 2))
        return {**m, **flag}, cost

    # -- checkpointing --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        generator = self.regularizer.generator
        state = {
            "epoch": self.epoch,
            "diverged": self.diverged,
            "model": self.model.state_dict(),
            "regularizer": self.regularizer.state_dict(),
            "engine": self.engine.state_dict(),
            "torch_rng": torch.random.get_rng_state(),
            "noise_rng": generator.get_state() if generator is not None else None,
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a checkpoint. In fixed mode rho comes from this trial's config, not the
        checkpoint: PBT restores a donor's weights under the recipient's new hyperparameters."""
        self.epoch = int(state["epoch"])
        self.diverged = bool(state["diverged"])
        self.model.load_state_dict(state["model"])
        if self.config.learned:
            self.regularizer.load_state_dict(state["regularizer"])
        self.engine.load_state_dict(state["engine"])
        torch.random.set_rng_state(state["torch_rng"])
        generator = self.regularizer.generator
        if state.get("noise_rng") is not None and generator is not None:
            generator.set_state(state["noise_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        if not self.config.learned:
            with torch.no_grad():  # a donor's weights onto the level set of this trial's rho
                self.regularizer.after_rho_step()


def _optimizer(name: str, params: list, lr: float, weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def _nan_metrics(split: str) -> dict[str, float]:
    return {f"{split}_{m}": math.nan for m in ("loss", "acc", "ece", "nll", "brier")}


def run_trial(config: Mapping[str, Any] | TrialConfig) -> list[dict[str, Any]]:
    """Train one trial without Ray and return its report rows, one per epoch."""
    trial = Trial(config)
    rows = []
    while not trial.done:
        rows.append(trial.run_epoch())
    return rows
