"""What a suite will cost before it runs: trials, epochs, FLOPs and device-hours per task.

A user decides from it how big a cluster to ask for, so it must work where the suite cannot
run (`crossreg suite paper --plan` on a laptop): no Ray, no data files, no GPU. The figures
come from the trainables' own FLOP counter (`trainables.engine.FlopMeter`, torch's
FlopCounterMode), run on one step of each kind (a theta step, a rho step, an evaluation)
of the task's model, built on the CPU from the dataset's declared input shape, on a batch of
two random rows; matmul and convolution FLOPs are linear in the rows, so a step of B rows
costs B/2 of that. The step counts are the trainer's: ceil(train rows / batch size) theta
steps per epoch (train rows from the split rules and the dataset's declared pool size),
one rho step every r theta steps on min(reg batch, reg rows) rows x K samples, and one
validation pass per epoch over the regularization split x the evaluation's draws.

What it leaves out, and says so: the test split's observation (never a cost in the results
either), elementwise work (FlopCounterMode counts matmuls and convolutions), and early
stopping (an ASHA or HyperBand trial counts its full epochs: an upper bound there). A T1-T2
step is scaled by its regularization rows as if the training batch were as large.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.experiments import ExperimentSpec

#: peak dense bf16/fp16 tensor FLOP/s of devices `--device-flops` may name (vendor data
#: sheets); hours at peak are a lower bound: real training reaches a fraction of it
DEVICE_FLOPS: dict[str, float] = {"v100": 125e12, "a100": 312e12, "h100": 989e12, "h200": 989e12}


@dataclass(frozen=True)
class StepFlops:
    """FLOPs per row of each step kind of one trial config (rho: per row, K samples in)."""

    train: float
    reg: float
    eval: float


@dataclass(frozen=True)
class TaskPlan:
    """One task's planned work over all its strategies and seeds."""

    name: str
    trials: int
    epochs: int
    trial_epochs: int
    flops: float
    per_strategy: tuple[tuple[str, int, float], ...]  # (strategy, trials, FLOPs), all seeds


def device_rate(text: str | None) -> tuple[float, str] | None:
    """`--device-flops`: a FLOP/s figure (`1e12`) or a named device's peak."""
    if text is None:
        return None
    key = text.strip().lower()
    if key in DEVICE_FLOPS:
        return DEVICE_FLOPS[key], f"{key} peak {DEVICE_FLOPS[key]:.3g} FLOP/s"
    try:
        rate = float(text)
    except ValueError:
        raise HarnessError(f"--device-flops {text!r}: a FLOP/s figure (e.g. 1e12) or one of "
                           f"{', '.join(DEVICE_FLOPS)}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise HarnessError(f"--device-flops {text!r}: must be > 0")
    return rate, f"{rate:.3g} FLOP/s"


_CACHE: dict[Any, StepFlops] = {}
_NOT_SHAPING = ("rho", "seed", "split_seed", "fold", "n_folds", "experiment", "strategy", "role",
                "epochs", "lr", "rho_lr", "weight_decay", "momentum", "n_train", "reg_fraction",
                "label_noise", "data_dir", "download", "checkpoint_every", "observe_every",
                "device_share", "batch_size", "reg_batch_size", "eval_batch_size", "r")


def step_flops(cfg: Any, input_shape: tuple[int, ...], task: str, n_classes: int) -> StepFlops:
    """FLOPs per row of each step kind, measured on the CPU on two random rows."""
    import torch

    from trainables.datasets import Split, Splits
    from trainables.member import Member

    cpu = dataclasses.replace(cfg, device="cpu", bf16=False, channels_last=False, members=1,
                              trivial_augment=False)
    # what a step's FLOPs depend on: the model and family, the mode (whether and how rho
    # steps), K and the evaluation's draws; not rho's values, the seeds, folds or budgets,
    # so a task measures once per mode (a ResNet-18 step on a loaded CPU takes seconds)
    key = (tuple(sorted((k, repr(v)) for k, v in cpu.to_dict().items()
                        if k not in _NOT_SHAPING)), input_shape, task, n_classes,
           _all_zero(cfg.rho))  # rho 0: no draws to average at evaluation
    if key in _CACHE:
        return _CACHE[key]
    from trainables.engine import FlopMeter

    gen = torch.Generator().manual_seed(0)
    x = torch.randn((2, *input_shape), generator=gen)
    y = (torch.tensor([0, 1 % max(n_classes, 1)]) if task == "classification"
         else torch.randn(2, generator=gen))
    part = Split(x, y)
    splits = Splits(train=part, reg=part, test=part, task=task, n_classes=n_classes,
                    input_shape=tuple(input_shape))
    meter = FlopMeter()
    rng_state = torch.random.get_rng_state()
    try:
        member = Member(cpu, 0, splits, torch.device("cpu"), meter, own_global_rng=False)
        member.engine.r = 1
        member.engine.train_epoch(x, y, x, y)
        samples = member.regularizer.eval_samples(cpu.eval_samples)
        member.engine.predict(x, 2, samples)
    except Exception as e:  # a model this plan cannot build on two rows: say which
        raise HarnessError(f"--plan: cannot measure a step of model {cfg.model!r} on "
                           f"{cfg.dataset!r} ({type(e).__name__}: {e})") from None
    finally:
        torch.random.set_rng_state(rng_state)
    per = {kind: flops / 2 for (kind, _shape, _samples), flops in meter.per_step.items()}
    result = StepFlops(train=per.get("train", 0.0), reg=per.get("reg", per.get("t1t2", 0.0)),
                       eval=per.get("eval", 0.0))
    _CACHE[key] = result
    return result


def _all_zero(rho: Any) -> bool:
    values = rho.values() if isinstance(rho, Mapping) else (rho,)
    return all(float(v) == 0.0 for v in values)


def trial_flops(config: Mapping[str, Any]) -> tuple[float, int]:
    """(FLOPs, epochs) of one trial of `config`, from the counts in the module doc."""
    from trainables.config import TrialConfig
    from trainables.datasets import dataset_spec
    from trainables.datasets.splitting import round_half_up

    cfg = TrialConfig.from_dict(config)
    data = dataset_spec(cfg.dataset)
    pool = cfg.n_train or data.pool_size
    if pool is None:
        raise HarnessError(f"--plan: dataset {cfg.dataset!r} declares no pool size")
    if cfg.fold == -1:
        n_reg = 0
    elif cfg.n_folds > 1:
        n_reg = pool // cfg.n_folds
    else:
        n_reg = round_half_up(cfg.reg_fraction * pool)
    n_tr = pool - n_reg
    per = step_flops(cfg, tuple(data.input_shape), data.task, data.n_classes)
    steps = math.ceil(n_tr / cfg.batch_size) * cfg.epochs
    total = per.train * n_tr * cfg.epochs
    if cfg.learned and n_reg:
        total += (steps // cfg.r) * min(cfg.reg_batch_size, n_reg) * per.reg
    total += per.eval * n_reg * cfg.epochs
    return total * cfg.members, cfg.epochs


def plan_task(spec: ExperimentSpec) -> TaskPlan:
    """Every strategy x seed of one task: trials (the strategy's expected count), epochs and
    FLOPs (the mean of its trial kinds' costs, e.g. grid CV's folds and refit, x trials)."""
    from harness import strategies

    rows = []
    trials_all = 0
    flops_all = 0.0
    trial_epochs = 0
    for name in spec.strategies:
        strategy = strategies.get(name)
        configs = strategy.configs_to_check(spec, 0)
        costs = [trial_flops(c) for c in configs]
        per_trial = sum(f for f, _ in costs) / len(costs)
        trials = strategy.expected_trials(spec) * spec.seeds
        rows.append((name, trials, per_trial * trials))
        trials_all += trials
        flops_all += per_trial * trials
        trial_epochs += trials * spec.epochs
    return TaskPlan(name=spec.name, trials=trials_all, epochs=spec.epochs,
                    trial_epochs=trial_epochs, flops=flops_all, per_strategy=tuple(rows))


def plan_text(suite: Any, rate: tuple[float, str] | None = None) -> str:
    """`crossreg suite NAME --plan`: one line per task and the total; device-hours with a
    rate. No Ray, no data, no training."""
    plans = [plan_task(spec) for spec in suite.task_specs()]
    head = (f"plan of suite {suite.name}: {len(plans)} tasks x {len(suite.strategies)} "
            f"strategies x {suite.seeds} seed{'s' if suite.seeds != 1 else ''} "
            "(FLOPs: matmuls and convolutions of theta steps, rho steps and validation passes; "
            "ASHA/HyperBand counted at full epochs, an upper bound)")
    cols = ["task", "trials", "epochs", "trial-epochs", "FLOPs"] + (["device-hours"] if rate else [])
    rows = []
    for p in plans:
        row = [p.name, str(p.trials), str(p.epochs), str(p.trial_epochs), f"{p.flops:.3g}"]
        if rate:
            row.append(f"{p.flops / rate[0] / 3600:.3g}")
        rows.append(row)
    total = sum(p.flops for p in plans)
    last = ["total", str(sum(p.trials for p in plans)), "", str(sum(p.trial_epochs for p in plans)),
            f"{total:.3g}"] + ([f"{total / rate[0] / 3600:.3g}"] if rate else [])
    rows.append(last)
    widths = [max(len(r[i]) for r in [cols, *rows]) for i in range(len(cols))]
    lines = [head] + ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                       for i, (c, w) in enumerate(zip(r, widths)))
                      for r in [cols, *rows]]
    if rate:
        lines.append(f"device-hours at {rate[1]} (at a peak rate: a lower bound)")
    else:
        lines.append("device-hours: give --device-flops F (FLOP/s, e.g. 1e12 measured) or a "
                     f"device ({', '.join(DEVICE_FLOPS)})")
    return "\n".join(lines)


__all__ = ["DEVICE_FLOPS", "StepFlops", "TaskPlan", "device_rate", "plan_task", "plan_text",
           "step_flops", "trial_flops"]
