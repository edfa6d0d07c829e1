"""Whether a Tune experiment in storage can be restored: `Tuner.restore` reads the newest of
each file Tune saved, and a driver killed (or a disk filled) while it wrote them leaves them
missing, empty or cut short. The runner restarts such a (strategy, seed) clean instead."""

from __future__ import annotations

import json

from harness.run.storage import Storage

#: the search algorithm's saved state beside each snapshot (Ray 2.60's file names: the
#: variant generator's, a searcher wrapper's, a searcher's): a cloudpickle, or the JSON a
#: searcher's own `save` writes (the harness's grid searcher)
SEARCH_STATE_PREFIXES = ("basic-variant-state-", "search_gen_state-", "searcher-state-")


def has_state(exp: Storage) -> bool:
    """Whether Tune left enough to restore: its tuner.pkl, a readable experiment-state
    snapshot, and a readable search-algorithm state, the newest of each by name being the one
    `Tuner.restore` reads. A driver killed between writing the first two leaves only
    tuner.pkl (`Tuner.restore` would restart with an empty config); one killed while Tune
    copied the snapshot to storage leaves it empty (seen under load: `Tuner.restore` then
    fails on it and the resume with it); a full disk leaves the search state empty (seen:
    the restored variant generator then launched a trial with an empty config, which failed
    past its retries)."""
    from ray import tune

    if not tune.Tuner.can_restore(exp.root):
        return False
    files = exp.list_files()
    states = [n for n in files if n.startswith("experiment_state-") and n.endswith(".json")]
    if not states:
        return False
    try:
        json.loads(exp.read_text(max(states)))
    except ValueError:  # empty or cut short
        return False
    for prefix in SEARCH_STATE_PREFIXES:
        saved = [n for n in files if n.startswith(prefix)]
        if saved and not _whole_state(exp.read_bytes(max(saved))):
            return False
    return True


def _whole_state(data: bytes) -> bool:
    """Whether a saved search state reads back: JSON, or else a (cloud)pickle."""
    from ray import cloudpickle

    if not data:
        return False
    try:
        json.loads(data)
        return True
    except ValueError:
        pass
    try:
        cloudpickle.loads(data)
        return True
    except Exception:  # cut short: unpickling raises anything
        return False


__all__ = ["SEARCH_STATE_PREFIXES", "has_state"]
