"""One network of a trial with everything that makes it reproducible on its own.

A `Member` holds a model, its regularizer, the engine (both optimisers, the shuffling and
regularization-batch generators) and every generator it draws from, each a separate stream of
the member's seed; `trainables.trial.Trial` drives one (a plain trial) or several (a deep
ensemble, a family of several networks). The helpers that build a member's parts are what the
config check (`trainables.check`) runs too, so a config is refused for the same reasons in
both places.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from . import families
from .config import ConfigError, TrialConfig
from .engine import Engine, FlopMeter
from .regularizers import Regularizer
from .trivial_augment import TrivialAugment

if TYPE_CHECKING:
    from .datasets import Splits

#: separate streams of the run's seed, so that e.g. turning noise on never changes the shuffling
_STREAM_SHUFFLE, _STREAM_REG, _STREAM_NOISE = 1, 2, 3
#: the stream of the model's own random modules (fractional max-pooling)
_STREAM_MODEL = 4
#: the stream TrivialAugment draws from (trivial_augment=True)
_STREAM_AUGMENT = 5
#: the stream the observation (test-split evaluation) draws its noise from, so that observing
#: a model never moves the training's noise stream: a bigger test split, or another
#: ``eval_samples``, leaves the training (and its cost) exactly as it was
_STREAM_OBSERVE = 6


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
                            dropout=cfg.dropout, norm=cfg.norm, pool=cfg.pool,
                            pool_ratio=cfg.pool_ratio)
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


def member_seeds(seed: int, members: int) -> list[int]:
    """The seed of each member of a deep ensemble: member 0 has the trial's own ``seed`` (so a
    one-member ensemble is the plain trial), member m >= 1 the first word of the m-th child of
    ``numpy.random.SeedSequence(seed)`` (``spawn_key=(m,)``): independent of the trial's own
    streams (``SeedSequence([seed, stream])``) and of every other seed's members. A plain
    trial with ``seed=member_seeds(s, M)[m]`` trains exactly member m."""
    return [seed] + [int(np.random.SeedSequence(seed, spawn_key=(m,)).generate_state(1)[0])
                     for m in range(1, members)]


class Member:
    """One network of a trial with everything that makes it reproducible on its own: model,
    regularizer, engine (both optimisers, the shuffling and regularization-batch generators),
    the noise generator, the generator of the model's own random modules (fractional
    max-pooling) and, in an ensemble, its own state of torch's global generators (model
    initialisation, dropout), swapped in around its work by `turn`.

    ``flop_meter`` may be shared: the members of an ensemble have the same architecture.
    """

    def __init__(self, cfg: TrialConfig, seed: int, splits: Splits, device: torch.device,
                 flop_meter: FlopMeter, *, own_global_rng: bool) -> None:
        self.seed = seed
        torch.manual_seed(seed)  # model initialisation and dropout draw from the member's seed
        task = splits.task
        n_out = splits.n_classes if task == "classification" else 1
        self.model = build_network(cfg, splits.input_shape, n_out)
        self.model.to(device)
        if cfg.channels_last:  # a no-op for tensors that are not 4-D (linear and 1-D conv layers)
            self.model.to(memory_format=torch.channels_last)
        from .models import attach_generator

        # the model's own random modules (fractional max-pooling) draw from a stream of the seed
        model_generator = _generator(device, seed, _STREAM_MODEL)
        self.model_generator = model_generator if attach_generator(self.model, model_generator) else None
        noise_generator = _generator(device, seed, _STREAM_NOISE)
        self.regularizer = build_regularizer(cfg, self.model, splits.input_shape,
                                             noise_generator).to(device)
        self.observe_generator = (_generator(device, seed, _STREAM_OBSERVE)
                                  if self.regularizer.generator is not None else None)
        theta_params = [p for p in self.model.parameters()
                        if id(p) not in {id(q) for q in self.regularizer.parameters()}]
        rho_params = self.regularizer.rho_parameters()
        self.engine = Engine(
            self.model, self.regularizer, task=task,
            theta_optimizer=_optimizer(cfg.optimizer, theta_params, cfg.lr, cfg.weight_decay,
                                       cfg.momentum),
            rho_optimizer=_optimizer(cfg.rho_optimizer, rho_params, cfg.rho_lr, 0.0, cfg.momentum)
            if rho_params else None,
            r=cfg.r, K=cfg.K, batch_size=cfg.batch_size, reg_batch_size=cfg.reg_batch_size,
            shuffle_generator=_generator(torch.device("cpu"), seed, _STREAM_SHUFFLE),
            reg_generator=_generator(torch.device("cpu"), seed, _STREAM_REG),
            autocast_dtype=torch.bfloat16 if cfg.bf16 else None,
            channels_last=cfg.channels_last,
            flop_meter=flop_meter,
            hypergradient=cfg.mode == "t1t2",
            train_transform=TrivialAugment(splits, _generator(torch.device("cpu"), seed, _STREAM_AUGMENT))
            if cfg.trivial_augment else None,
        )
        self.device = device
        # A single network uses the process's global generators as they are (its state is
        # checkpointed from them); an ensemble member keeps its own between turns.
        self.rng: torch.Tensor | None = torch.random.get_rng_state() if own_global_rng else None
        self.cuda_rng: torch.Tensor | None = (
            torch.cuda.get_rng_state(device) if own_global_rng and device.type == "cuda" else None)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """The global generators hold this member's state inside (an ensemble member's);
        a single network's are left alone."""
        if self.rng is None:
            yield
            return
        torch.random.set_rng_state(self.rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state(self.cuda_rng, self.device)
        try:
            yield
        finally:
            self.rng = torch.random.get_rng_state()
            if self.cuda_rng is not None:
                self.cuda_rng = torch.cuda.get_rng_state(self.device)

    @contextlib.contextmanager
    def observing(self) -> Iterator[None]:
        """Inside, the regularizer's generator draws from the observation stream; on leaving,
        both streams are where they were left (the noise stream untouched by what ran inside).
        Swapped by state, so it works for any family that draws from ``regularizer.generator``."""
        generator, observe = self.regularizer.generator, self.observe_generator
        if generator is None or observe is None:
            yield
            return
        held = generator.get_state()
        generator.set_state(observe.get_state())
        try:
            yield
        finally:
            observe.set_state(generator.get_state())
            generator.set_state(held)

    def state_dict(self) -> dict[str, Any]:
        generator = self.regularizer.generator
        state = {
            "model": self.model.state_dict(),
            "regularizer": self.regularizer.state_dict(),
            "engine": self.engine.state_dict(),
            "torch_rng": self.rng if self.rng is not None else torch.random.get_rng_state(),
            "noise_rng": generator.get_state() if generator is not None else None,
            "observe_rng": (self.observe_generator.get_state()
                            if self.observe_generator is not None else None),
        }
        if self.model_generator is not None:
            state["model_rng"] = self.model_generator.get_state()
        if self.device.type == "cuda":
            state["cuda_rng"] = (self.cuda_rng if self.cuda_rng is not None
                                 else torch.cuda.get_rng_state(self.device))
        return state

    def load_state_dict(self, state: Mapping[str, Any], learned: bool) -> None:
        """Restore a member; ``learned=False`` keeps rho from this trial's config (see
        `Trial.load_state_dict`)."""
        self.model.load_state_dict(state["model"])
        if learned:
            self.regularizer.load_state_dict(state["regularizer"])
        self.engine.load_state_dict(state["engine"])
        if self.rng is not None:
            self.rng = state["torch_rng"]
        else:
            torch.random.set_rng_state(state["torch_rng"])
        generator = self.regularizer.generator
        if state.get("noise_rng") is not None and generator is not None:
            generator.set_state(state["noise_rng"])
        if state.get("observe_rng") is not None and self.observe_generator is not None:
            self.observe_generator.set_state(state["observe_rng"])
        if state.get("model_rng") is not None and self.model_generator is not None:
            self.model_generator.set_state(state["model_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            if self.cuda_rng is not None:
                self.cuda_rng = state["cuda_rng"]
            else:
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        if not learned:
            with torch.no_grad():  # a donor's weights onto the level set of this trial's rho
                self.regularizer.after_rho_step()


def _optimizer(name: str, params: list, lr: float, weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
