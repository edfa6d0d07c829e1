"""Several networks trained together: one theta step for all of them on the same batch.

A family with ``Family.networks > 1`` (``pair``) couples its networks through a term in the
training loss: each step every network takes the same batch, their losses are summed, the
first network's `Regularizer.coupling` adds a term computed from all their outputs, and one
gradient of that total updates every network with its own optimiser. The batch order is
the first network's (its engine's shuffling generator); the other engines' shuffling
generators are never drawn from. Each network's forward runs inside its own ``turn`` (its
copy of torch's global generators: the model's own dropout draws from it), exactly as a
network trained alone would, so with no coupling term each network's updates are those of
its plain run on the same batch order, bit for bit (`trainables.trial` builds the networks;
the tests compare against plain runs).

Only theta steps are joint, and no rho step runs: the families using it are fixed only (their
coupling weight is not in the forward pass, so cross_reg's rho step has nothing to
differentiate; a hypergradient through the joint step, as mode='t1t2' takes through a single
network's, is not built here). Each network's `Regularizer.train_penalty` joins the total.
Inputs are not augmented (``trivial_augment`` is refused for such families).
Cost: every network's forward counts (``fwd_train`` is the number of networks times the
batch), and the FLOPs of the whole joint step (every forward and the one backward through
all the networks) are measured once per batch shape, under the key ("train", shape, number
of networks) of the first engine's `FlopMeter`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch

from .engine import Counters, Engine, sample_loss


@dataclass
class JointStats:
    """One epoch of networks trained together: each network's mean loss (its own data loss,
    without the coupling term) and training accuracy, and the cost of all of them."""

    losses: list[float]
    accs: list[float]
    theta_steps: int
    diverged: bool
    counters: Counters = field(default_factory=Counters)


def train_joint_epoch(engines: Sequence[Engine],
                      turns: Sequence[Callable[[], AbstractContextManager[None]]],
                      train_x: torch.Tensor, train_y: torch.Tensor) -> JointStats:
    """One pass over the training split in the first engine's batch order (see the module
    doc); ``turns[m]()`` holds network m's state of torch's global generators."""
    lead = engines[0]
    task = lead.task
    n = len(train_x)
    order = torch.randperm(n, generator=lead.shuffle_generator).to(train_x.device)
    counters = Counters()
    loss_sums = [torch.zeros((), device=train_x.device) for _ in engines]
    correct = [torch.zeros((), device=train_x.device) for _ in engines]
    params = [p for engine in engines for p in engine.theta_params]
    theta_steps = 0
    for engine in engines:
        engine.model.train()
    for start in range(0, n, lead.batch_size):
        idx = order[start:start + lead.batch_size]
        xb, yb = train_x[idx], train_y[idx]
        with lead.flop_meter.measure("train", xb.shape, len(engines)):
            outputs, losses, labels = [], [], []
            for engine, turn in zip(engines, turns):
                with turn():
                    engine.regularizer.refresh()
                    inputs, targets = engine.regularizer.transform_batch(xb, yb)
                    out = engine._forward(inputs)
                outputs.append(out)
                losses.append(sample_loss(out, targets, 1, task))
                labels.append(targets.argmax(dim=-1) if targets.is_floating_point() else targets)
            total = losses[0]
            for loss in losses[1:]:
                total = total + loss
            for engine in engines:  # each network's own training penalty, as when trained alone
                extra = engine.regularizer.train_penalty(n)
                if extra is not None:
                    total = total + extra
            coupling = lead.regularizer.coupling(outputs, losses, task)
            if coupling is not None:
                total = total + coupling
            grads = torch.autograd.grad(total, params, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = g
        for engine in engines:
            engine.theta_optimizer.step()
            engine.regularizer.after_theta_step()
            engine.step += 1
        counters.fwd_train += len(engines) * len(idx)
        counters.flops_train += lead.flop_meter.flops("train", xb.shape, len(engines))
        theta_steps += 1
        for m, (out, loss) in enumerate(zip(outputs, losses)):
            loss_sums[m] += loss.detach().float() * len(idx)
            if task == "classification":
                correct[m] += (out.detach().argmax(dim=-1) == labels[m]).sum()
    mean_losses = [float(s) / n for s in loss_sums]
    return JointStats(
        losses=mean_losses,
        accs=[float(c) / n if task == "classification" else math.nan for c in correct],
        theta_steps=theta_steps,
        diverged=not all(math.isfinite(v) for v in mean_losses),
        counters=counters,
    )


__all__ = ["JointStats", "train_joint_epoch"]
