"""The one training loop: theta steps on the training split, rho steps on the regularization split.

Cross-reg and fixed-lambda training differ only in the `Regularizer` (learned or frozen rho);
the loop, the losses and the forward-pass accounting are the same code. The linear
estimators use it too, with full-batch steps.

Choices the paper leaves open, made here:
* A rho step happens after every r-th theta step (counted over the whole run, not per epoch),
  on a regularization batch drawn with replacement from a generator owned by the run
  (``reg_full_batch=True`` uses the whole regularization split instead, in order, with no
  draw: the full-batch linear estimators need the exact validation gradient).
* The rho step runs the model in eval mode (BatchNorm uses its running statistics, dropout is
  off) so the regularization split never updates a theta-side statistic; noise points and
  augmentation stay active, because they are what rho controls.
* A theta step trains on `Regularizer.transform_batch` (inputs and targets: mixup mixes
  both, its targets are class probabilities); a rho step and an evaluation transform the
  inputs only (`Regularizer.transform_inputs`) and score the true labels.
* The rho loss of a stochastic family is the NLL of the mean predictive probability over K
  samples (the mean prediction for regression): with a single sample, or with the
  deterministic prediction, dL/dsigma would carry no signal about generalisation.
* ``hypergradient=True`` (mode='t1t2', Luketina et al. ICML 2016) replaces the partial
  gradient by the hypergradient through the theta step just before the rho step: with g the
  gradient of that step's training objective (same batch, same noise draw) and theta' =
  theta - lr * g (a plain SGD step at the theta optimiser's lr, whatever the optimiser: the
  paper's derivation), the rho gradient is d L_val(theta') / d rho = -lr (dL_val/dtheta')^T
  dg/drho, L_val being the unregularized loss of theta' on the same draw of the
  regularization split: one clean forward, the regularizer switched off (`Regularizer.off`:
  no noise, no input transform), batch norm normalising with the batch's own statistics
  (`batch_statistics`). rho reaches L_val only through theta', as in the paper,
  where the validation cost is a function of the weights alone; so a penalty weight outside
  the forward pass is learnable too. (A noisy L_val, as cross_reg's, would depend on rho
  directly while this gradient ignores that path: measured on mnist1d-noise it drove sigma
  to 10 and test accuracy to 53%. Batch norm's running statistics, gathered under noise, are
  not the clean network's: normalising the clean forward with them drove sigma on the
  1-D CNN from 0.3 to 4-8 in ten epochs and accuracy to 22%.)
* A regularizer's `Regularizer.train_penalty` is added to every theta step's objective (not to the
  reported ``train_loss``); a ``train_transform`` (TrivialAugment) changes each theta step's
  inputs before the regularizer sees them, from a generator of its own.

Cost accounting, two ways, both per epoch (`Counters`):
* Sample-forward passes (``fwd_*``), exact: a forward of a batch of B rows counts B, a rho
  step of a stochastic family K*B. They treat a train step and a rho step alike.
* FLOPs (``flops_*``): matmul and convolution FLOPs as
  ``torch.utils.flop_counter.FlopCounterMode`` counts them (mm/addmm/bmm/baddbmm,
  convolutions and their backward, attention), forward AND backward as autograd actually ran
  them: a theta step computes weight and input gradients (no input gradient for the raw
  inputs), a rho step only the input gradients between the output and the first point where
  rho enters, an evaluation no backward at all. Elementwise work (norms, activations, noise,
  the loss, the optimiser update) is not counted: it is small next to the matmuls of the
  models here and FlopCounterMode has no formula for it. Each (step kind, batch shape) is
  measured once, on the first real step of that shape (wrapped in the counter, no extra
  computation: no random number is drawn twice, and the counter does not change the
  kernels, so a fixed run at rho=0 stays bit for bit plain training), and multiplied by the
  step counts from then on (`FlopMeter`). A model whose cost depends on the data rather
  than on the shape is counted at its first batch's cost.
* A t1t2 rho step counts its one clean forward of the regularization batch (B, where a
  cross_reg step of a stochastic family counts K x B) in ``fwd_reg``; its ``flops_reg`` are
  that forward, its backward to every theta' (weights and inputs) and the double backward
  through the theta step's gradient (kind ``t1t2``, keyed by both batch shapes). The theta
  step it differentiates is an ordinary theta step whose gradient keeps its graph: counted
  once, in ``fwd_train``/``flops_train``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from analysis.contract import (
    FLOPS_EVAL,
    FLOPS_REG,
    FLOPS_TEST,
    FLOPS_TRAIN,
    FWD_EVAL,
    FWD_REG,
    FWD_TEST,
    FWD_TRAIN,
)

from .regularizers import Regularizer


@dataclass
class Counters:
    """One epoch's cost: sample-forward passes (a forward of a batch of B samples counts B)
    and matmul/conv FLOPs (forward + backward as executed), by step kind: theta steps
    (``train``), rho steps (``reg``), evaluation of the validation split (``eval``) and of
    the test split (``test``, the harness's own observation, never a cost)."""

    fwd_train: int = 0
    fwd_reg: int = 0
    fwd_eval: int = 0
    fwd_test: int = 0
    flops_train: int = 0
    flops_reg: int = 0
    flops_eval: int = 0
    flops_test: int = 0

    def as_dict(self) -> dict[str, int]:
        """The row's cost columns (`analysis.contract.FWD_COLUMNS`, then `FLOPS_COLUMNS`), named
        by the contract: these attribute names are the engine's own."""
        return {FWD_TRAIN: self.fwd_train, FWD_REG: self.fwd_reg, FWD_EVAL: self.fwd_eval,
                FWD_TEST: self.fwd_test, FLOPS_TRAIN: self.flops_train, FLOPS_REG: self.flops_reg,
                FLOPS_EVAL: self.flops_eval, FLOPS_TEST: self.flops_test}

    def add(self, other: Counters) -> None:
        """Add ``other`` in place (a deep ensemble's cost is the sum of its members')."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


#: (step kind, batch shape, samples stacked per row): what a `FlopMeter` keys a figure by
FlopKey = tuple[str, tuple[int, ...], int]


class FlopMeter:
    """Matmul/conv FLOPs of one step per (kind, batch shape, samples), measured on the first
    real step of each and looked up afterwards.

    ``kind`` is ``train`` (forward + backward to theta), ``reg`` (forward of the stacked
    samples + backward to rho) or ``eval`` (a forward); ``shape`` is the batch's shape before
    the regularizer stacks its ``samples`` draws. The figure depends only on the model and
    these, so members of a deep ensemble (the same architecture) may share one meter.
    """

    def __init__(self) -> None:
        self.per_step: dict[FlopKey, int] = {}

    @contextlib.contextmanager
    def measure(self, kind: str, shape: torch.Size | tuple[int, ...],
                samples: int) -> Iterator[None]:
        """Run the step inside; the first time this key is seen, under FlopCounterMode."""
        key = (kind, tuple(int(s) for s in shape), int(samples))
        if key in self.per_step:
            yield
            return
        counter = FlopCounterMode(display=False)
        counter.mod_tracker = _NoModuleTracker()  # type: ignore[assignment]
        with counter:
            yield
        self.per_step[key] = int(counter.get_total_flops())

    def flops(self, kind: str, shape: torch.Size | tuple[int, ...], samples: int) -> int:
        """The figure of a step already measured (KeyError otherwise)."""
        return self.per_step[(kind, tuple(int(s) for s in shape), int(samples))]


class _NoModuleTracker:
    """Stands in for FlopCounterMode's ModuleTracker, which attributes FLOPs to modules
    through global module hooks and per-module backward hooks. Those hooks fail under
    ``torch.autograd.grad`` when a module's input is a leaf (a parametrised weight of the
    norm families: "A leaf node was passed to _will_engine_execute_node"), and they run code
    on every module of the step; only the total is needed, which counts under "Global"."""

    parents = frozenset({"Global"})

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@contextlib.contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Every batch norm layer of `model` normalises with the statistics of the batch it is
    given and leaves its running statistics (and their count) as they were; every other
    module keeps its mode. T1-T2's clean forward (`Engine._hypergradient`) needs it: the
    running statistics were gathered with the regularizer on, so in eval mode they would
    normalise the noise-free activations by a variance that includes the noise."""
    norms = [m for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    held = [m.training for m in norms]
    for m in norms:  # train mode without tracking: F.batch_norm gets no running buffers
        m.train()
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, training in zip(norms, held):
            m.track_running_stats = True
            m.train(training)


@dataclass
class EpochStats:
    loss: float
    acc: float
    theta_steps: int
    rho_steps: int
    diverged: bool
    counters: Counters = field(default_factory=Counters)


def sample_loss(outputs: torch.Tensor, y: torch.Tensor, n_samples: int, task: str) -> torch.Tensor:
    """Loss of the mean prediction over ``n_samples`` stacked draws (rows sample-major)."""
    if task == "classification":
        if n_samples == 1:
            return F.cross_entropy(outputs, y)
        logp = F.log_softmax(outputs.float(), dim=-1).reshape(n_samples, len(y), -1)
        log_mean_p = torch.logsumexp(logp, dim=0) - math.log(n_samples)
        return F.nll_loss(log_mean_p, y)
    pred = outputs.reshape(n_samples, len(y), -1).float().mean(dim=0).squeeze(-1)
    return F.mse_loss(pred, y.float())


def mean_prediction(outputs: torch.Tensor, n_rows: int, n_samples: int, task: str) -> torch.Tensor:
    """Mean predictive probability (float32 softmax) or mean regression output."""
    out = outputs.float().reshape(n_samples, n_rows, -1)
    if task == "classification":
        return torch.softmax(out, dim=-1).mean(dim=0)
    return out.mean(dim=0).squeeze(-1)


class InputTransform(Protocol):
    """A transform of a theta step's inputs that draws only from a generator of its own,
    whose state it checkpoints (`trainables.trivial_augment.TrivialAugment`)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Engine:
    """Alternates theta and rho steps and counts every forward pass."""

    def __init__(
        self,
        model: nn.Module,
        regularizer: Regularizer,
        *,
        task: str,
        theta_optimizer: torch.optim.Optimizer,
        rho_optimizer: torch.optim.Optimizer | None,
        r: int,
        K: int,
        batch_size: int,
        reg_batch_size: int,
        shuffle_generator: torch.Generator,
        reg_generator: torch.Generator,
        autocast_dtype: torch.dtype | None = None,
        channels_last: bool = False,
        reg_full_batch: bool = False,
        flop_meter: FlopMeter | None = None,
        hypergradient: bool = False,
        train_transform: InputTransform | None = None,
    ) -> None:
        self.model = model
        self.regularizer = regularizer
        self.task = task
        self.theta_optimizer = theta_optimizer
        self.rho_optimizer = rho_optimizer
        self.r = r
        self.K = K
        self.batch_size = batch_size
        self.reg_batch_size = reg_batch_size
        self.shuffle_generator = shuffle_generator
        self.reg_generator = reg_generator
        self.autocast_dtype = autocast_dtype
        self.channels_last = channels_last
        self.reg_full_batch = reg_full_batch
        self.flop_meter = flop_meter if flop_meter is not None else FlopMeter()
        self.hypergradient = hypergradient  # t1t2: rho steps through the last theta step
        self.train_transform = train_transform
        self.step = 0  # theta steps over the whole run: decides when a rho step is due
        rho_ids = {id(p) for p in regularizer.parameters()}
        self.theta_params = [p for p in model.parameters() if p.requires_grad and id(p) not in rho_ids]
        names = {id(p): name for name, p in model.named_parameters()}
        self.theta_names = [names[id(p)] for p in self.theta_params]  # t1t2's functional step
        self.rho_params = regularizer.rho_parameters()

    @property
    def learning_rho(self) -> bool:
        return self.rho_optimizer is not None and bool(self.rho_params)

    @property
    def rho_samples(self) -> int:
        return self.K if self.regularizer.stochastic else 1

    def _forward(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The model on ``x``; with ``params``, on those tensors in place of its own (by name)."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = (torch.autocast(x.device.type, dtype=self.autocast_dtype)
               if self.autocast_dtype is not None else contextlib.nullcontext())
        with ctx:
            return self.model(x) if params is None else functional_call(self.model, params, (x,))

    def train_epoch(self, train_x: torch.Tensor, train_y: torch.Tensor,
                    reg_x: torch.Tensor | None = None, reg_y: torch.Tensor | None = None) -> EpochStats:
        """One pass over the training split (last batch may be short: every row counts once)."""
        n = len(train_x)
        order = torch.randperm(n, generator=self.shuffle_generator).to(train_x.device)
        counters = Counters()
        loss_sum = torch.zeros((), device=train_x.device)
        correct = torch.zeros((), device=train_x.device)
        theta_steps = rho_steps = 0
        self.model.train()
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            xb, yb = train_x[idx], train_y[idx]
            if self.train_transform is not None:
                xb = self.train_transform(xb)
            rho_due = (self.learning_rho and reg_x is not None and reg_y is not None
                       and (self.step + 1) % self.r == 0)
            unrolled = rho_due and self.hypergradient  # t1t2 differentiates this step's gradient
            with self.flop_meter.measure("train", xb.shape, 1):
                self.regularizer.refresh()
                inputs, targets = self.regularizer.transform_batch(xb, yb)
                outputs = self._forward(inputs)
                loss = sample_loss(outputs, targets, 1, self.task)
                penalty = self.regularizer.train_penalty(n)
                objective = loss if penalty is None else loss + penalty
                grads = torch.autograd.grad(objective, self.theta_params, allow_unused=True,
                                            create_graph=unrolled)
            if unrolled:
                assert reg_x is not None and reg_y is not None  # rho_due
                hyper_cost = self._hypergradient(grads, xb.shape, reg_x, reg_y)
                grads = tuple(None if g is None else g.detach() for g in grads)
            for p, g in zip(self.theta_params, grads):
                p.grad = g
            self.theta_optimizer.step()
            self.regularizer.after_theta_step()
            counters.fwd_train += len(idx)
            counters.flops_train += self.flop_meter.flops("train", xb.shape, 1)
            theta_steps += 1
            self.step += 1
            loss_sum += loss.detach().float() * len(idx)
            if self.task == "classification":
                labels = targets.argmax(dim=-1) if targets.is_floating_point() else targets
                correct += (outputs.detach().argmax(dim=-1) == labels).sum()
            if rho_due:
                assert reg_x is not None and reg_y is not None
                if unrolled:
                    fwd, flops = hyper_cost
                    self._step_rho()
                else:
                    fwd, flops = self._rho_step(reg_x, reg_y)
                counters.fwd_reg += fwd
                counters.flops_reg += flops
                rho_steps += 1
        mean_loss = float(loss_sum) / n
        return EpochStats(
            loss=mean_loss,
            acc=float(correct) / n if self.task == "classification" else math.nan,
            theta_steps=theta_steps,
            rho_steps=rho_steps,
            diverged=not math.isfinite(mean_loss) or not self._rho_finite(),
            counters=counters,
        )

    def _reg_batch(self, reg_x: torch.Tensor, reg_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A rho step's batch: drawn with replacement from the run's generator, or the whole
        split in order (``reg_full_batch``)."""
        if self.reg_full_batch:
            return reg_x, reg_y
        n_reg = len(reg_x)
        idx = torch.randint(n_reg, (min(self.reg_batch_size, n_reg),),
                            generator=self.reg_generator).to(reg_x.device)
        return reg_x[idx], reg_y[idx]

    def _step_rho(self) -> None:
        """Apply the rho gradients set on ``rho_params``, then keep rho in its domain."""
        assert self.rho_optimizer is not None  # learning_rho: the only callers check it
        self.rho_optimizer.step()
        self.regularizer.after_rho_step()

    def _rho_step(self, reg_x: torch.Tensor, reg_y: torch.Tensor) -> tuple[int, int]:
        """One partial-gradient step on rho; returns its cost: (sample-forward passes, FLOPs)."""
        xr, yr = self._reg_batch(reg_x, reg_y)
        size = len(xr)
        k = self.rho_samples
        self.model.eval()
        with self.flop_meter.measure("reg", xr.shape, k):
            self.regularizer.refresh()
            outputs = self._forward(self.regularizer.transform_inputs(xr, k))
            loss = sample_loss(outputs, yr, k, self.task)
            grads = torch.autograd.grad(loss, self.rho_params, allow_unused=True)
        for p, g in zip(self.rho_params, grads):
            p.grad = g
        self._step_rho()
        self.model.train()
        return k * size, self.flop_meter.flops("reg", xr.shape, k)

    def _hypergradient(self, grads: Sequence[torch.Tensor | None], train_shape: torch.Size,
                       reg_x: torch.Tensor, reg_y: torch.Tensor) -> tuple[int, int]:
        """T1-T2's rho gradient (module doc), set on ``rho_params``; ``grads`` are the theta
        step's gradients with their graph. Returns its cost: (sample-forward passes, FLOPs)."""
        xr, yr = self._reg_batch(reg_x, reg_y)
        lr = float(self.theta_optimizer.param_groups[0]["lr"])
        moved = [(name, p, g) for name, p, g in zip(self.theta_names, self.theta_params, grads)
                 if g is not None]
        key = (*xr.shape, *train_shape)
        self.model.eval()
        with (self.flop_meter.measure("t1t2", key, 1), self.regularizer.off(),
              batch_statistics(self.model)):
            stepped = {name: (p.detach() - lr * g.detach()).requires_grad_() for name, p, g in moved}
            outputs = self._forward(xr, stepped)
            loss = sample_loss(outputs, yr, 1, self.task)
            dtheta = torch.autograd.grad(loss, list(stepped.values()), allow_unused=True)
            linked = [(g, d) for (_, _, g), d in zip(moved, dtheta) if d is not None and g.requires_grad]
            hyper: Sequence[torch.Tensor | None] = [None] * len(self.rho_params)
            if linked:
                hyper = torch.autograd.grad([g for g, _ in linked], self.rho_params,
                                            grad_outputs=[d for _, d in linked], allow_unused=True)
        for p, h in zip(self.rho_params, hyper):
            p.grad = None if h is None else -lr * h
        self.model.train()
        return len(xr), self.flop_meter.flops("t1t2", key, 1)

    def _rho_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.regularizer.parameters())

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int,
                n_samples: int) -> tuple[torch.Tensor, int, int]:
        """Mean prediction over ``n_samples`` draws (noise on, no augmentation) and its cost:
        (prediction, sample-forward passes, FLOPs)."""
        self.model.eval()
        self.regularizer.refresh()
        parts = []
        flops = 0
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            with self.flop_meter.measure("eval", xb.shape, n_samples):
                outputs = self._forward(Regularizer.transform_inputs(self.regularizer, xb, n_samples))
            flops += self.flop_meter.flops("eval", xb.shape, n_samples)
            parts.append(mean_prediction(outputs, len(xb), n_samples, self.task))
        self.model.train()
        return torch.cat(parts), n_samples * len(x), flops

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "theta_optimizer": self.theta_optimizer.state_dict(),
            "rho_optimizer": self.rho_optimizer.state_dict() if self.rho_optimizer else None,
            "shuffle_generator": self.shuffle_generator.get_state(),
            "reg_generator": self.reg_generator.get_state(),
            "train_transform": (self.train_transform.state_dict()
                                if self.train_transform is not None else None),
        }

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.theta_optimizer.load_state_dict(state["theta_optimizer"])
        if self.rho_optimizer is not None and state.get("rho_optimizer") is not None:
            self.rho_optimizer.load_state_dict(state["rho_optimizer"])
        self.shuffle_generator.set_state(state["shuffle_generator"])
        self.reg_generator.set_state(state["reg_generator"])
        if self.train_transform is not None and state.get("train_transform") is not None:
            self.train_transform.load_state_dict(state["train_transform"])
