"""Fake experiment runs in the results contract's layout, written by the analysis tests
(a module of its own, so that no test depends on which conftest.py Python imported last)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

N_TRAIN, N_REG, N_TEST = 900, 100, 500
T0 = 1_750_000_000


@dataclass
class Experiment:
    root: Path
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    expected_final: dict[tuple[str, int], str] = field(default_factory=dict)
    n_trials: dict[tuple[str, int], int] = field(default_factory=dict)
    fwd_total: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    final_test: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)
    final_n_train: dict[tuple[str, int], int] = field(default_factory=dict)


def trial_rows(*, trial_id: str, strategy: str, seed: int, epochs: int, quality: float,
               role: str, config: dict[str, Any], stop_after: int | None = None,
               rho: dict[str, list[float]] | None = None, fwd_reg: int = 0,
               t_start: float = 0.0, val: bool = True, experiment: str = "quick",
               reliability: bool = False, start_epoch: int = 1,
               curve_epochs: int | None = None, n_train: int = N_TRAIN) -> list[dict[str, Any]]:
    """Report rows of one trial, as Ray Tune writes them into result.json."""
    rows = []
    n_epochs = stop_after or epochs
    t = t_start
    for e in range(start_epoch, n_epochs + 1):
        frac = 1.0 - math.exp(-3.0 * e / (curve_epochs or epochs))
        acc = 0.1 + (quality - 0.1) * frac
        row: dict[str, Any] = {
            "epoch": e,
            "train_loss": 2.0 * (1 - frac) + 0.1, "train_acc": min(1.0, acc + 0.05),
            "val_loss": (2.0 * (1 - acc)) if val else float("nan"),
            "val_acc": (acc + 0.01) if val else float("nan"),
            "test_loss": 2.0 * (1 - acc), "test_acc": acc, "test_ece": 0.2 * (1 - frac) + 0.02,
            "test_nll": 2.0 * (1 - acc) + 0.05, "test_brier": 1.0 - acc,
            "fwd_train": N_TRAIN, "fwd_reg": fwd_reg, "fwd_eval": N_REG if val else 0,
            "fwd_test": N_TEST, "train_seconds": 0.5, "n_train": n_train, "n_reg": N_REG,
            "n_test": N_TEST, "diverged": False, "experiment": experiment, "strategy": strategy,
            "seed": seed, "role": role,
        }
        for name, values in (rho or {}).items():
            row[f"rho/{name}"] = values[e - 1]
        if reliability:
            counts = np.zeros(15)
            counts[10:] = [5, 10, 20, 40, 100 + e]
            for i in range(15):
                row[f"rel/count_{i}"] = float(counts[i])
                row[f"rel/conf_{i}"] = (i + 0.5) / 15 if counts[i] else float("nan")
                row[f"rel/acc_{i}"] = max(0.0, (i + 0.5) / 15 - 0.05) if counts[i] else float("nan")
        t += 0.5
        row.update({
            "trial_id": trial_id, "training_iteration": e, "time_this_iter_s": 0.5,
            "time_total_s": 0.5 * (e - start_epoch + 1), "timestamp": int(T0 + t),
            "date": "2026-11-25_12-00-00", "done": e == n_epochs, "pid": 1234,
            "hostname": "test", "node_ip": "127.0.0.1", "time_since_restore": 0.5 * e,
            "iterations_since_restore": e, "checkpoint_dir_name": None,
            "config": config,
        })
        rows.append(row)
    return rows


def write_trial(strategy_dir: Path, trial_dir: str, rows: list[dict[str, Any]] | None,
                text: str | None = None) -> Path:
    """Write ``rows`` as JSON lines (or raw ``text``) into ``<trial_dir>/result.json``."""
    d = strategy_dir / trial_dir
    d.mkdir(parents=True, exist_ok=True)
    if text is None:
        text = "".join(json.dumps(r) + "\n" for r in rows or [])
    (d / "result.json").write_text(text)
    if rows:
        (d / "params.json").write_text(json.dumps(rows[0].get("config", {})))
    return d / "result.json"


def write_experiment(root: Path, *, name: str = "quick-run", seeds: tuple[int, ...] = (0, 1, 2),
                     strategies: tuple[str, ...] = ("cross_reg", "pbt", "grid_cv", "asha"),
                     epochs: int = 6, status: str | None = "finished", dataset: str = "mnist1d",
                     reliability: bool = False, pbt_clone: bool = False,
                     completed: bool = False, experiment: str = "quick",
                     quality: dict[str, float] | None = None) -> Experiment:
    """Write one experiment run in the contract's layout and return what it holds.

    cross_reg: one trial with learned rho; pbt: 4 members, rho schedule changing at
    epoch 3, optional clone repeating iterations; grid_cv: 2 grid points x 2 folds and a
    refit (fold -1, NaN validation, trained on the whole pool: n_train + n_reg rows);
    asha: 5 trials, 2 stopped early after 2 epochs; any other name (e.g. ``fixed``): one
    trial. ``completed``: metadata.json records every (strategy, seed) as finished, as the
    harness does (runs written before it have no such key). ``experiment``: the experiment's
    name in metadata.json and every row (a suite's task). ``quality``: a strategy's final test
    accuracy per name (one trial; cross_reg adds seed noise of at most 0.01 as usual): overrides
    the built-in trials for those names, so a suite of tasks can order its strategies at will.
    """
    run = root / name
    run.mkdir(parents=True)
    exp = Experiment(run, strategies, seeds, epochs)
    if status is not None:
        meta = {"experiment": experiment, "status": status, "seeds": list(seeds),
                "strategies": list(strategies),
                "spec": {"name": experiment, "dataset": dataset, "epochs": epochs},
                "versions": {"python": "3.11", "numpy": np.__version__},
                "git_commit": "abc1234"}
        if completed:
            meta["completed"] = {f"{s}-seed{k}": "finished" for s in strategies for k in seeds}
        (run / "metadata.json").write_text(json.dumps(meta))
    base_cfg = {"dataset": dataset, "epochs": epochs, "family": "noise"}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for strategy in strategies:
            sdir = run / f"{strategy}-seed{seed}"
            trials: list[tuple[str, list[dict[str, Any]]]] = []
            t_off = 0.0

            # bound now (default arguments): the loop moves on after this strategy
            def add(tid, quality, role, cfg, strategy=strategy, seed=seed, trials=trials, **kw):
                nonlocal t_off
                rows = trial_rows(trial_id=tid, strategy=strategy, seed=seed, epochs=epochs,
                                  quality=quality, role=role, config={**base_cfg, **cfg, "seed": seed},
                                  t_start=t_off, reliability=reliability, experiment=experiment, **kw)
                t_off += 0.1
                trials.append((tid, rows))
                return rows

            if quality is not None and strategy in quality:
                add(f"{strategy}{seed}_00000", quality[strategy] + 0.01 * rng.random(), "single", {})
                exp.expected_final[(strategy, seed)] = f"{strategy}{seed}_00000"
            elif strategy == "cross_reg":
                sig = [[0.5 + 0.02 * e for e in range(epochs)], [0.1 - 0.01 * e for e in range(epochs)]]
                add(f"cr{seed}_00000", 0.80 + 0.01 * rng.random(), "single", {"mode": "cross_reg"},
                    rho={"sigma_0": sig[0], "sigma_1": sig[1]}, fwd_reg=4 * N_REG)
                exp.expected_final[(strategy, seed)] = f"cr{seed}_00000"
            elif strategy == "pbt":
                qs = 0.70 + 0.08 * rng.permutation(4) / 3
                for i, q in enumerate(qs):
                    sched = [0.3 * (i + 1)] * 2 + [0.3 * (i + 2)] * (epochs - 2)
                    add(f"pbt{seed}_{i:05d}", q, "member", {"rho": 0.3 * (i + 1)},
                        rho={"sigma_0": sched, "sigma_1": sched})
                exp.expected_final[(strategy, seed)] = f"pbt{seed}_{int(np.argmax(qs)):05d}"
                if pbt_clone:
                    # member 0 restored from a donor at iteration 3: iterations 3.. repeat
                    tid, rows = trials[0]
                    rows[:] = rows[:4] + trial_rows(
                        trial_id=tid, strategy=strategy, seed=seed, epochs=epochs, quality=qs[0],
                        role="member", config=base_cfg, start_epoch=3, t_start=t_off,
                        reliability=reliability,
                        rho={"sigma_0": [0.9] * epochs, "sigma_1": [0.9] * epochs})
            elif strategy == "grid_cv":
                for g, wd in enumerate([0.1, 1.0]):
                    for fold in range(2):
                        add(f"gcv{seed}_{2 * g + fold:05d}", 0.72 + 0.03 * g, "fold",
                            {"rho": wd, "fold": fold, "n_folds": 2})
                add(f"gcv{seed}_00004", 0.77, "refit", {"rho": 1.0, "fold": -1, "n_folds": 2}, val=False,
                    n_train=N_TRAIN + N_REG)
                exp.expected_final[(strategy, seed)] = f"gcv{seed}_00004"
            elif strategy == "asha":
                qs = [0.74, 0.76 + 0.01 * rng.random(), 0.73, 0.95, 0.96]
                for i, q in enumerate(qs):
                    stop = 2 if i >= 3 else None  # high-quality trials stopped: not candidates
                    add(f"asha{seed}_{i:05d}", q, "member", {"rho": 0.1 * (i + 1)}, stop_after=stop,
                        curve_epochs=stop)
                exp.expected_final[(strategy, seed)] = f"asha{seed}_00001"
            else:
                add(f"{strategy}{seed}_00000", 0.7, "single", {})
                exp.expected_final[(strategy, seed)] = f"{strategy}{seed}_00000"
            tot = {"fwd_train": 0, "fwd_reg": 0, "fwd_eval": 0}
            for tid, rows in trials:
                write_trial(sdir, f"train_{tid}_lr=0.001_2026-11-25", rows)
                for r in rows:
                    for k in tot:
                        tot[k] += r[k]
                if tid == exp.expected_final[(strategy, seed)]:
                    exp.final_test[(strategy, seed)] = {k: rows[-1][k] for k in
                                                        ("test_acc", "test_ece", "test_nll")}
                    exp.final_n_train[(strategy, seed)] = rows[-1]["n_train"]
            exp.n_trials[(strategy, seed)] = len(trials)
            exp.fwd_total[(strategy, seed)] = tot
    return exp


def edit_metadata(run: Path, **changes: Any) -> dict[str, Any]:
    """Change keys of ``run``'s metadata.json (a value of None deletes the key); returns it."""
    path = run / "metadata.json"
    meta = json.loads(path.read_text())
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    path.write_text(json.dumps(meta))
    return meta


def rewrite_rows(path: Path, change) -> list[dict[str, Any]]:
    """Apply ``change(rows)`` (in place) to the rows of one result.json and write them back."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    change(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def write_sweep(root: Path, variants: dict[str, tuple[str, dict[str, Any], dict[int, tuple[float, int]]]], *,
                name: str = "sweep-run", reference: str | None = "cross_reg.r1K4", epochs: int = 2,
                flops_per_fwd: float | None = 3.0, device_share: float | None = 0.25,
                listed: bool = True) -> Path:
    """A budget sweep in the contract's layout: one trial per (variant, seed).

    ``variants``: ``{variant: (method, budget, {seed: (final test_acc, cost in forward passes)})}``;
    each trial's rows sum to that cost (``fwd_train`` only), its last row carries that test
    accuracy; ``flops_*`` = forward passes x ``flops_per_fwd`` and ``device_seconds`` =
    train_seconds (0.5 a row) x ``device_share`` (None: the rows lack them, as older runs).
    ``listed``: metadata.json's ``sweep`` lists the variants (with ``sweep_reference``).
    """
    run = root / name
    run.mkdir(parents=True)
    seeds = sorted({k for _, _, per in variants.values() for k in per})
    meta: dict[str, Any] = {"experiment": "quick", "status": "finished", "seeds": seeds,
                            "strategies": list(variants), "spec": {"name": "quick", "dataset": "mnist1d",
                                                                   "epochs": epochs, "task": "classification"},
                            "completed": {f"{v}-seed{k}": "finished" for v, (_, _, per) in variants.items()
                                          for k in per}}
    if listed:
        meta["sweep"] = {v: {"strategy": m, "budget": b} for v, (m, b, _) in variants.items()}
        if reference is not None:
            meta["sweep_reference"] = reference
    (run / "metadata.json").write_text(json.dumps(meta))
    for variant, (_, _, per) in variants.items():
        for seed, (acc, cost) in per.items():
            rows = trial_rows(trial_id=f"{variant}_{seed}", strategy=variant, seed=seed, epochs=epochs,
                              quality=acc, role="single", config={"dataset": "mnist1d", "seed": seed})
            share = [cost // epochs] * epochs
            share[-1] += cost - sum(share)
            for r, fwd in zip(rows, share):
                r.update(fwd_train=fwd, fwd_reg=0, fwd_eval=0)
                if flops_per_fwd is not None:
                    r.update(flops_train=fwd * flops_per_fwd, flops_reg=0.0, flops_eval=0.0, flops_test=1.0)
                if device_share is not None:
                    r["device_seconds"] = r["train_seconds"] * device_share
            rows[-1].update(test_acc=acc, val_acc=acc)
            write_trial(run / f"{variant}-seed{seed}", f"train_{variant}_{seed}", rows)
    return run
