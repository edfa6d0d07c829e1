"""The rows the summary works from: replicates, groups, and the final models' last epochs.

Conventions (why they are what they are):

* A replicate is one (run, seed): a strategy's seeds are its independent repeats.
  Loading several runs of the same experiment pools their seeds.
* Quality numbers come from the final model (``final_epoch`` rows: the final trial's
  last epoch, rule in :func:`analysis.contract.final_trial`); the test split never
  chooses anything.
* Cost numbers come from every row of the strategy, stopped, cloned and refit trials
  included, as sums of per-epoch deltas of :data:`analysis.contract.COST_COLUMNS`.
"""

from __future__ import annotations

import pandas as pd

#: One row of the summary per group.
GROUP = ["experiment", "dataset", "strategy"]
#: One replicate (an independent repeat) of a strategy.
REPLICATE = ["run", "seed"]


def bare(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without its ``attrs`` (a shallow copy).

    pandas deep-copies ``attrs`` (here: every run's metadata.json and the load warnings)
    into the result of every operation; over the hundreds of selections and groupbys of a
    summary that copying costs more than the arithmetic. Callers read what they need from
    ``attrs`` first.
    """
    if not df.attrs:
        return df
    out = df.copy(deep=False)
    out.attrs = {}
    return out


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without attrs (:func:`bare`) and with a non-null ``dataset`` label: pandas drops
    NaN keys from groupby and joins."""
    df = bare(df)
    if "dataset" not in df:
        return df.assign(dataset="unknown")
    if df["dataset"].isna().any():
        d = df["dataset"].astype(object)
        return df.assign(dataset=d.where(d.notna(), "unknown"))
    return df


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, dataset, strategy, run, seed) that has a final model: its last epoch.

    The loader's ``final_epoch`` flag marks them (the highest epoch of the final trial; of
    epochs repeated by a PBT restore, the later row).
    """
    df = labelled(df)
    return df[df["final_epoch"].to_numpy(dtype=bool)]
