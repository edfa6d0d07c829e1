"""`--log`: the names and packages are checked before anything runs, in one line each; the
callbacks are Tune's own. (A real run that logs to TensorBoard and MLflow, read back with
their readers: tests/harness/test_registered_experiments.py.)"""

from __future__ import annotations

import importlib.util

import pytest

from harness import cli
from harness.errors import SpecError
from harness.run import loggers


def test_names_are_kept_in_order_once_each(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # the check opens (so creates) the default ./mlruns store
    assert loggers.check(["mlflow", "tensorboard", "mlflow"]) == ("mlflow", "tensorboard")


def test_an_unknown_logger_is_refused():
    with pytest.raises(SpecError, match="^--log comet: unknown logger; choose from tensorboard"):
        loggers.check(["comet"])


def test_a_missing_package_names_its_pip_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(SpecError, match=r"^--log wandb needs the wandb package: pip install wandb$"):
        loggers.check(["tensorboard", "wandb"])


def test_the_cli_refuses_before_any_work(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://x")
    code = cli.main(["run", "quick", "--smoke", "--log", "mlflow", "--storage", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("crossreg: --log mlflow: cannot open the tracking store nosuchscheme://x")
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_callbacks_are_tunes_and_mlflow_names_the_run(monkeypatch, tmp_path):
    from ray.air.integrations.mlflow import MLflowLoggerCallback
    from ray.tune.logger import TBXLoggerCallback

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    tb, ml = loggers.callbacks(["tensorboard", "mlflow"], run_name="quick-1", unit="pbt-seed0")
    assert isinstance(tb, TBXLoggerCallback) and isinstance(ml, MLflowLoggerCallback)
    assert ml.experiment_name == "quick-1" and ml.tags["crossreg.unit"] == "pbt-seed0"
    assert ml.tracking_uri == f"file:{tmp_path / 'mlruns'}"
    assert ml.log_params_on_trial_end  # PBT changes rho mid-trial; MLflow refuses a changed param
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    (ml,) = loggers.callbacks(["mlflow"], run_name="r", unit="u")
    assert ml.tracking_uri == "http://mlflow.example:5000"


def test_each_tensorboard_writer_gets_a_file_of_its_own(tmp_path):
    """Tune opens a writer each time a trial (re)starts; tensorboardX names the file by the
    second: two in one second shared a name and the second truncated the first."""
    import pickle

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (callback,) = loggers.callbacks(["tensorboard"], run_name="r", unit="pbt-seed0")
    callback = pickle.loads(pickle.dumps(callback))  # Tune pickles it with the Tuner's state
    for step in (1, 2):  # a member paused after step 1 and restarted at once
        writer = callback._summary_writer_cls(str(tmp_path), flush_secs=30)
        writer.add_scalar("ray/tune/val_acc", 0.5, step)
        writer.close()
    files = sorted(tmp_path.glob("events.out.tfevents.*"))
    assert len(files) == 2
    steps = []
    for f in files:
        acc = EventAccumulator(str(f))
        acc.Reload()
        steps += [e.step for e in acc.Scalars("ray/tune/val_acc")]
    assert sorted(steps) == [1, 2]


def test_the_mlflow_experiment_is_made_once_before_units_share_it(monkeypatch, tmp_path):
    """Units side by side each found the experiment missing and raced to create it: all but
    one failed (seen in CI). `prepare` makes it once, before they start; their callbacks then
    find it, however many set up at once."""
    from concurrent.futures import ThreadPoolExecutor

    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    loggers.prepare(["tensorboard", "mlflow"], run_name="quick-1")
    loggers.prepare(["mlflow"], run_name="quick-1")  # a resume: the experiment is kept
    client = MlflowClient(loggers.mlflow_tracking_uri())
    made = client.get_experiment_by_name("quick-1")
    assert made is not None and len(client.search_experiments()) == 2  # with MLflow's Default
    units = [loggers.callbacks(["mlflow"], run_name="quick-1", unit=f"u{i}")[0] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda callback: callback.setup(), units))
    assert {callback.mlflow_util.experiment_id for callback in units} == {made.experiment_id}


def test_prepare_without_mlflow_touches_nothing(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    loggers.prepare(["tensorboard"], run_name="r")
    assert not list(tmp_path.iterdir())
