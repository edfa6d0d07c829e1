"""Bad input is one line and exit 2 before Ray starts: names, sizes, device, data files,
addresses that are not Ray, undecodable files and incomplete run directories."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import torch

from harness import strategies
from harness.cli.commands import main
from harness.experiments import registry
from harness.run import preflight


def _one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(autouse=True)
def no_ray_session_is_started() -> Iterator[None]:
    import ray

    assert not ray.is_initialized()
    yield
    assert not ray.is_initialized(), "a preflight failure started Ray"


@pytest.mark.parametrize("sets,expected", [
    (["dataset=nosuch"], "unknown dataset 'nosuch'"),
    (["model=nosuch"], "unknown model 'nosuch'"),
    (["n_train=100000"], "exceeds the training pool"),
    (["family=nosuch"], "family"),
    (["family=augment", "dataset=diabetes", "task=regression", "n_train=200"], "needs image inputs"),
])
def test_a_bad_trial_setting_is_one_line_naming_it(capsys, tmp_path, sets, expected):
    argv = ["run", "quick", "--storage", str(tmp_path)]
    for item in sets:
        argv += ["--set", item]
    line = _one_line_error(capsys, argv)
    assert expected in line and "experiment quick" in line, line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it(capsys, tmp_path):
    line = _one_line_error(capsys, ["run", "quick", "--storage", str(tmp_path),
                                    "--set", "device=cuda"])
    assert "CUDA is not available" in line


def test_a_file_based_dataset_without_its_files(capsys, tmp_path):
    line = _one_line_error(capsys, [
        "run", "cifar10-resnet18-noise", "--storage", str(tmp_path / "r"), "--set", "device=cpu",
        "--set", "download=false", "--set", f"data_dir={tmp_path / 'empty'}"])
    assert "cifar10" in line and "missing" in line


def test_an_open_port_that_is_not_ray_fails_within_seconds(capsys, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=lambda: [server.accept() for _ in range(4)], daemon=True).start()
    port = server.getsockname()[1]
    t0 = time.monotonic()
    line = _one_line_error(capsys, ["run", "quick", "--smoke", "--storage", str(tmp_path),
                                    "--address", f"127.0.0.1:{port}"])
    assert time.monotonic() - t0 < 30  # not the minutes ray.init would retry for
    assert "is not a Ray cluster" in line
    server.close()


def test_ray_address_in_the_environment_counts_as_address(capsys, tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    line = _one_line_error(capsys, ["run", "quick", "--smoke", "--storage", str(tmp_path)])
    assert f"cannot reach a Ray cluster at 127.0.0.1:{port}" in line


def test_a_toml_file_that_is_not_utf8(capsys, tmp_path):
    f = tmp_path / "latin1.toml"
    f.write_bytes('name = "caf\u00e9"\n'.encode("latin-1"))
    assert "not UTF-8" in _one_line_error(capsys, ["run", "--config", str(f)])


@pytest.mark.parametrize("missing", ["completed", "seeds", "trainable", "strategies"])
def test_resume_of_an_incomplete_metadata_file(capsys, tmp_path, missing):
    meta = {"spec": registry.get("quick").to_dict(), "seeds": [0], "strategies": ["cross_reg"],
            "trainable": "trainables.tune:train_fn", "completed": {}, "status": "interrupted"}
    del meta[missing]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    line = _one_line_error(capsys, ["resume", str(tmp_path)])
    assert missing in line and "metadata.json" in line


@pytest.mark.parametrize("command", ["analyze", "report"])
def test_analyze_and_report_of_something_that_is_not_a_run(capsys, tmp_path, command):
    (tmp_path / "notes.txt").write_text("not a run")
    argv = [command, str(tmp_path)] + (["--out", str(tmp_path / "r.html")] if command == "report" else [])
    line = _one_line_error(capsys, argv)
    assert str(tmp_path) in line
    assert not (tmp_path / "r.html").exists()


def test_every_registered_experiment_passes_preflight():
    """On this machine where it can (no GPU, no downloads); elsewhere with the device and
    data-file checks left to the workers, as on a cluster."""
    for name in registry.names():
        spec = registry.get(name)
        needs_machine = spec.trial.device == "cuda" or spec.trial.dataset in ("cifar10", "svhn")
        tasks = [(strategies.get(s), spec) for s in spec.strategies]
        preflight.check(spec.name, tasks, on_cluster=needs_machine, own_trainable=True)


def test_resume_refuses_a_run_whose_data_went_missing(capsys, tmp_path):
    spec = registry.get("cifar10-resnet18-noise").replace(
        device="cpu", download=False, data_dir=str(tmp_path / "gone"))
    meta = {"spec": spec.to_dict(), "seeds": [0], "strategies": ["cross_reg"],
            "trainable": "trainables.tune:train_fn", "completed": {}, "status": "interrupted"}
    run = tmp_path / "run"
    run.mkdir()
    (run / "metadata.json").write_text(json.dumps(meta))
    assert "missing" in _one_line_error(capsys, ["resume", str(run)])
    assert json.loads((run / "metadata.json").read_text())["status"] == "interrupted"
    assert os.listdir(run) == ["metadata.json"]
