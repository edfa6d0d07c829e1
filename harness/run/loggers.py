"""Following a run in the tools researchers already use: `--log tensorboard|mlflow|wandb`.

Each name attaches one of Ray Tune's own logger callbacks to every Tuner of the run. They run
on the driver and see every row a trial reports, so nothing in `trainables` changes:

- `tensorboard`: Tune's `TBXLoggerCallback`, event files in each trial's directory of the run
  (`tensorboard --logdir RUN_DIR`).
- `mlflow`: Tune's `MLflowLoggerCallback`, one MLflow run per trial (its config as params, its
  rows as per-epoch metrics) in an MLflow experiment named after the run directory, at
  `$MLFLOW_TRACKING_URI`, else a local `./mlruns` file store (MLflow's classic default;
  `mlflow ui` started in the same folder shows it). MLflow 3 keeps that store in maintenance
  mode behind `MLFLOW_ALLOW_FILE_STORE`, which the default sets: it needs no database
  packages; `MLFLOW_TRACKING_URI=sqlite:///mlflow.db` picks MLflow's database store instead.
  Params are logged when a trial ends: PBT changes a member's rho mid-run, and MLflow
  refuses a param that changes.
- `wandb`: Tune's `WandbLoggerCallback`, one W&B run per trial, grouped by run directory;
  offline (files under `./wandb`, `wandb sync` uploads them) unless `WANDB_API_KEY` is set.

The names are checked before Ray starts: an unknown one, or one whose package is missing,
is one line naming the `pip install` that fixes it; MLflow's tracking store is opened then too.
Without `--log`, a Tuner logs to result.json alone (`only_asked`), not also to the CSV and
TensorBoard files Tune adds by itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator, Sequence
from typing import Any

from harness.errors import SpecError

#: each logger and the package its Tune callback needs
PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}
#: what `pip install` gets each package (MLflow's client alone is enough for logging)
PIP = {"tensorboardX": "tensorboardX", "mlflow": "mlflow-skinny", "wandb": "wandb"}
#: Tune's switch for the loggers it adds to every Tuner unasked (CSV; TensorBoard where
#: tensorboardX is installed); its JSON one is ours (`trainables.tune.KeepLocalResults`)
TUNE_AUTO_LOGGERS_OFF = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"


def _unknown(name: str) -> SpecError:
    return SpecError(f"--log {name}: unknown logger; choose from {', '.join(PACKAGES)}")


def check(names: Sequence[str]) -> tuple[str, ...]:
    """The loggers, in order and once each; SpecError naming the first unknown one or the
    first whose package is not installed."""
    for name in names:
        if name not in PACKAGES:
            raise _unknown(name)
        package = PACKAGES[name]
        if importlib.util.find_spec(package) is None:
            raise SpecError(f"--log {name} needs the {package} package: "
                            f"pip install {PIP[package]}")
    if "mlflow" in names:
        _open_mlflow_store()
    return tuple(dict.fromkeys(names))


@contextlib.contextmanager
def only_asked() -> Iterator[None]:
    """While a Tuner fits: the loggers the run asked for and result.json, not the CSV and
    TensorBoard files Tune adds to every Tuner by itself. Nothing reads them (result.json is
    the record), and they cost: importing tensorboardX takes ~1.3 s of a Tuner's process, and
    writing one mnist1d-noise row's 54 scalars ~6.6 ms (measured; the 2-seed throughput run
    writes ~9,000 rows). Tune reads the switch when a Tuner fits; it is put back after."""
    held = os.environ.get(TUNE_AUTO_LOGGERS_OFF)
    os.environ[TUNE_AUTO_LOGGERS_OFF] = "1"
    try:
        yield
    finally:
        if held is None:
            os.environ.pop(TUNE_AUTO_LOGGERS_OFF, None)
        else:
            os.environ[TUNE_AUTO_LOGGERS_OFF] = held


def _open_mlflow_store() -> None:
    from mlflow.tracking import MlflowClient

    uri = mlflow_tracking_uri()
    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except Exception as e:  # any store failure (scheme, server, permissions): one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SpecError(f"--log mlflow: cannot open the tracking store {uri}: {first}") from None


class _OwnFileWriter:
    """tensorboardX's SummaryWriter, each with an event file of its own. tensorboardX names a
    file by the second it opened and the host, and Tune opens a new writer each time a trial
    (re)starts: a PBT member paused and restarted within the second truncated its earlier
    file, and its rows went missing from TensorBoard (seen in the smoke test). A class, not a
    closure: Tune pickles its callbacks with the Tuner's state."""

    def __init__(self, writer: Any) -> None:
        self.writer, self.opened = writer, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.opened += 1
        return self.writer(*args, filename_suffix=f".{os.getpid()}.{self.opened}", **kwargs)


def _tensorboard_callback() -> Any:
    from ray.tune.logger import TBXLoggerCallback

    callback = TBXLoggerCallback()
    callback._summary_writer_cls = _OwnFileWriter(callback._summary_writer_cls)
    return callback


def mlflow_tracking_uri() -> str:
    """`$MLFLOW_TRACKING_URI`, else the `./mlruns` file store as an absolute `file:` URI (a
    later `mlflow ui` may start elsewhere), allowed for MLflow 3 (module docstring)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return "file:" + os.path.abspath("mlruns")


def prepare(names: Sequence[str], *, run_name: str) -> None:
    """Make what every unit's callbacks share before the units start: MLflow's experiment
    `run_name`. Tune's MLflow callback creates it when missing, but units side by side each
    found it missing and all but one failed creating it (seen in CI)."""
    if "mlflow" not in names:
        return
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_tracking_uri())
    if client.get_experiment_by_name(run_name) is None:
        client.create_experiment(run_name)


def callbacks(names: Sequence[str], *, run_name: str, unit: str) -> list[Any]:
    """The Tune callbacks of `names` for the Tuner of one (strategy, seed) `unit` of the run
    directory `run_name`."""
    made: list[Any] = []
    tags = {"crossreg.run": run_name, "crossreg.unit": unit}
    for name in names:
        if name == "tensorboard":
            made.append(_tensorboard_callback())
        elif name == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            made.append(MLflowLoggerCallback(tracking_uri=mlflow_tracking_uri(),
                                             experiment_name=run_name, tags=tags,
                                             save_artifact=False, log_params_on_trial_end=True))
        elif name == "wandb":
            from ray.air.integrations.wandb import WandbLoggerCallback

            if not os.environ.get("WANDB_API_KEY"):  # Tune's callback reads the mode from here
                os.environ.setdefault("WANDB_MODE", "offline")
            made.append(WandbLoggerCallback(project="crossreg", group=run_name, tags=[unit]))
        else:
            raise _unknown(name)
    return made


__all__ = ["PACKAGES", "TUNE_AUTO_LOGGERS_OFF", "callbacks", "check", "mlflow_tracking_uri", "only_asked", "prepare"]
