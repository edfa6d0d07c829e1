"""Which rows are the final model's: ``final_trial`` and ``final_epoch``, by the contract's rule.

The rule itself is :func:`analysis.contract.final_trial` (shared with the harness); this
module feeds it each (run, experiment, strategy, seed)'s trials' last rows, and decides
what to show when the rule has no answer, saying so in a warning each time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from ..contract import FOLD_ROLE, REFIT_ROLE, SELECTION, final_trial
from .collect import Run

_TRIAL_KEYS = ["run", "experiment", "strategy", "seed", "trial_id"]


def _selection(run: Run | None, rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The spec's selection (its ``task``), else val_acc/max where any trial reports an
    accuracy and val_loss/min where none does (regression)."""
    if run is not None and run.task in SELECTION:
        return SELECTION[run.task]
    has_acc = any(isinstance(r["val_acc"], float) and not math.isnan(r["val_acc"]) for r in rows)
    return SELECTION["classification"] if has_acc else SELECTION["regression"]


def _pick(name: str, trials: dict[str, dict[str, Any]], run: Run | None, warn: list[str]) -> str | None:
    """The final trial of one (strategy, seed), or a stand-in named in a warning, or None."""
    rows = list(trials.values())
    metric, mode = _selection(run, rows)
    full = run.epochs if run is not None else None
    own = {t: r for t, r in trials.items() if r["role"] != FOLD_ROLE}
    furthest = max((r["epoch"] for r in own.values()), default=0)
    pick = final_trial(trials, metric, mode, full if full is not None else furthest)
    if pick is not None:
        if trials[pick]["role"] == REFIT_ROLE and full is not None and trials[pick]["epoch"] < full:
            warn.append(f"{name}: the refit ran {trials[pick]['epoch']} of {full} epochs; "
                        f"its metrics are not final")
        return pick
    if not own:
        warn.append(f"{name}: grid CV without a refit trial (still running or interrupted?); no final model")
        return None
    if full is not None and furthest < full:
        # An interrupted or running run: show the furthest-trained model, and say so.
        warn.append(f"{name}: no trial ran all {full} epochs; the furthest-trained stands in as the final model")
        pick = final_trial(own, metric, mode, furthest)
        if pick is not None:
            return pick
    # No candidate with a finite selection metric (diverged): keep the model visible so that
    # the summary can say it diverged, rather than dropping the seed.
    cand = [t for t, r in own.items() if r["epoch"] == furthest]
    if len(cand) > 1:
        warn.append(f"{name}: no finite {metric} among the candidates for the final model; "
                    f"took trial {trials[cand[0]]['trial_id']}")
    return cand[0]


def final_flags(df: pd.DataFrame, runs: list[Run], warn: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(final_trial, final_epoch) booleans for the rows of ``df`` (sorted in file order).

    ``final_trial``: every row of the trial each (run, experiment, strategy, seed) returns
    as its model (re-run rows left out: they choose nothing); ``final_epoch``: that trial's last
    epoch (the highest epoch; of repeated ones, after a PBT restore, the later row), one row per
    (strategy, seed).
    """
    n = len(df)
    final = np.zeros(n, dtype=bool)
    real = ~(df["placeholder"].to_numpy() | df["rerun"].to_numpy())  # re-run rows are cost only
    if not real.any():
        warn.append("no result rows at all: no final models")
        return final, final.copy()
    code = df.groupby(_TRIAL_KEYS, sort=False, observed=True, dropna=False).ngroup().to_numpy()
    sub = df.loc[real, [*_TRIAL_KEYS, "role", "epoch", "val_acc", "val_loss"]]
    sub = sub.assign(_code=code[real])
    last = sub.groupby("_code", sort=False).tail(1)
    by_name = {r.name: r for r in runs}
    # plain Python values for the contract's rule: str/None labels, int epochs, float metrics
    cols = {c: last[c].astype(object).where(last[c].notna(), None).tolist()
            for c in ("run", "experiment", "strategy", "trial_id", "role")}
    seeds = last["seed"].tolist()
    epochs = last["epoch"].tolist()
    vacc, vloss = last["val_acc"].astype(float).tolist(), last["val_loss"].astype(float).tolist()
    groups: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = defaultdict(dict)
    for i, c in enumerate(last["_code"].tolist()):
        key = (cols["run"][i], cols["experiment"][i], cols["strategy"][i], seeds[i])
        groups[key][str(c)] = {"trial_id": cols["trial_id"][i], "role": cols["role"][i],
                               "epoch": epochs[i], "val_acc": vacc[i], "val_loss": vloss[i]}
    chosen: list[int] = []
    for (run, _, strategy, seed), trials in groups.items():
        pick = _pick(f"{run}/{strategy}-seed{seed}", trials, by_name.get(str(run)), warn)
        if pick is not None:
            chosen.append(int(pick))
    final = np.isin(code, chosen) & real
    last_epoch = np.zeros(n, dtype=bool)
    if final.any():
        rows = pd.DataFrame({"code": code[final], "epoch": df["epoch"].to_numpy()[final]},
                            index=np.flatnonzero(final))
        # stable sort by epoch: the last of the highest epoch in file order ends each trial
        ends = rows.sort_values("epoch", kind="stable").groupby("code", sort=False).tail(1).index
        last_epoch[ends.to_numpy()] = True
    return final, last_epoch
