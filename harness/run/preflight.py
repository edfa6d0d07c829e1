"""Everything about a run that can be checked on the driver before Ray starts.

Strategy names (resolved by the caller: an unknown one is a SpecError already), then, for the
harness's own trainable, every
strategy's trial configs through `trainables.check_config`: the trial's own checks (dataset,
model and family names, `n_train` against the dataset, the family's rho names and domain, the
device, a file-based dataset's files), so a bad value is one line in a second instead of
every trial failing three times on the workers. On a cluster (`--address`) the driver's node
may hold neither the data nor the GPUs, so those two checks are left to the workers there.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.errors import HarnessError, SpecError
from harness.experiments import ExperimentSpec
from harness.strategies import Strategy


def check(experiment: str, tasks: Sequence[tuple[Strategy, ExperimentSpec]], *,
          on_cluster: bool, own_trainable: bool) -> None:
    """Raise HarnessError naming the experiment, strategy and key of the first problem.

    `tasks`: each strategy (or sweep variant) with the spec it runs; `own_trainable`: the
    harness's `trainables.tune:train_fn` runs the trials (a user's own trainable takes configs
    we cannot judge, so only the strategies are checked).
    """
    names = [strategy.name for strategy, _ in tasks]
    if len(set(names)) < len(names):
        raise SpecError(f"strategies={names}: two of them share a name")
    if not own_trainable:
        return
    from trainables.check import ConfigError, check_config

    for strategy, spec in tasks:
        try:
            for config in strategy.configs_to_check(spec):
                check_config(config, files=not on_cluster, device=not on_cluster)
        except (ConfigError, SpecError) as e:
            raise HarnessError(f"experiment {experiment}, strategy {strategy.name}: {e}") from None


__all__ = ["check"]
