"""Everything about a run that can be checked on the driver before Ray starts.

Strategy names against the strategy registry, then, for the harness's own trainable, every
strategy's trial configs through `trainables.check_config`: the trial's own checks (dataset,
model and family names, `n_train` against the dataset, the family's rho names and domain, the
device, a file-based dataset's files), so a bad value is one line in a second instead of
every trial failing three times on the workers. On a cluster (`--address`) the driver's node
may hold neither the data nor the GPUs, so those two checks are left to the workers there.
"""

from __future__ import annotations

from harness import strategies
from harness.errors import HarnessError, SpecError
from harness.experiments import ExperimentSpec


def check(spec: ExperimentSpec, *, on_cluster: bool, own_trainable: bool) -> None:
    """Raise HarnessError naming the experiment, strategy and key of the first problem.

    `own_trainable`: the harness's `trainables.tune:train_fn` runs the trials (a user's own
    trainable takes configs we cannot judge, so only the strategy names are checked).
    """
    chosen = [strategies.get(name) for name in spec.strategies]  # SpecError names the key
    names = [s.name for s in chosen]
    if len(set(names)) < len(names):
        raise SpecError(f"strategies={list(spec.strategies)}: two of them share a name")
    if not own_trainable:
        return
    from trainables.check import ConfigError, check_config

    for strategy in chosen:
        try:
            for config in strategy.configs_to_check(spec):
                check_config(config, files=not on_cluster, device=not on_cluster)
        except (ConfigError, SpecError) as e:
            raise HarnessError(f"experiment {spec.name}, strategy {strategy.name}: {e}") from None


__all__ = ["check"]
