"""CLI: help everywhere, `list`, and bad input -> one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from harness.cli.commands import main
from harness.experiments import registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["resume", "--help"],
                                  ["list", "--help"], ["analyze", "--help"], ["report", "--help"]])
def test_help_everywhere(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert "usage: crossreg" in capsys.readouterr().out


def test_list_shows_every_registered_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in registry.names():
        assert name in out


def test_unknown_experiment(capsys, tmp_path):
    line = _one_line_error(capsys, ["run", "nope", "--storage", str(tmp_path)])
    assert "unknown experiment 'nope'" in line


def test_unknown_strategy(capsys, tmp_path):
    line = _one_line_error(capsys, ["run", "--strategies", "pbt", "bogus", "--storage", str(tmp_path)])
    assert "bogus" in line and "strategies" in line


def test_seeds_zero(capsys, tmp_path):
    assert "--seeds 0" in _one_line_error(capsys, ["run", "--seeds", "0", "--storage", str(tmp_path)])


def test_malformed_toml(capsys, tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("epochs = [1,\n")
    assert "malformed TOML" in _one_line_error(capsys, ["run", "--config", str(f)])


def test_bad_set(capsys):
    assert "epochs" in _one_line_error(capsys, ["run", "--set", "epochs=many"])


def test_unwritable_storage(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    line = _one_line_error(capsys, ["run", "--storage", str(blocker / "sub"), "--smoke"])
    assert "not writable" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write a read-only directory")
def test_read_only_storage(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert "not writable" in _one_line_error(capsys, ["run", "--storage", str(ro), "--smoke"])


def test_unreachable_address(capsys, tmp_path):
    line = _one_line_error(capsys, ["run", "--smoke", "--storage", str(tmp_path),
                                    "--address", f"127.0.0.1:{_free_port()}"])
    assert "cannot reach a Ray cluster" in line
    assert list(tmp_path.iterdir()) == []  # nothing written for a run that cannot start


def test_unknown_option_is_a_usage_error(capsys):
    assert "unrecognized arguments" in _one_line_error(capsys, ["run", "--frobnicate"])


def test_resume_of_a_non_run_directory(capsys, tmp_path):
    assert "metadata.json" in _one_line_error(capsys, ["resume", str(tmp_path)])


def test_console_script_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "nope"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "unknown experiment" in proc.stderr


def test_more_gpus_per_trial_than_the_machine_has(tmp_path):
    """In a subprocess: it starts a local Ray, whose log handlers outlive pytest's capture."""
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--smoke", "--storage", str(tmp_path / "r"),
         "--quiet", "--gpus-per-trial", "64", "--trainable", "harness.testing:synthetic_train_fn"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path)
    ours = [line for line in proc.stderr.splitlines() if line.startswith("crossreg:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(ours) == 1 and "gpus_per_trial=64" in ours[0] and "GPUs" in ours[0]
    assert list((tmp_path / "r").iterdir()) == []  # refused before the run directory exists


def test_linear_demo_prints_each_estimator_beside_its_classic_fit(capsys):
    assert main(["linear-demo"]) == 0
    out = capsys.readouterr().out
    for cross, classic in (("CrossRegRidge", "Ridge, best of"), ("CrossRegLasso", "LassoCV"),
                           ("CrossRegSpline", "smoothing spline, GCV")):
        assert cross in out and classic in out


def test_analyze_refuses_a_missing_local_directory(capsys, tmp_path):
    assert main(["analyze", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["analyze", "file:///nonexistent/run"],
    ["analyze", "nosuchscheme://bucket/run"],
])
def test_analyze_of_an_unreadable_uri_is_one_line_not_a_traceback(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_resume_of_a_damaged_metadata_file_is_one_line(capsys, tmp_path, content):
    (tmp_path / "metadata.json").write_text(content)
    assert main(["resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "metadata.json" in err and "Traceback" not in err


def test_a_reader_that_stops_reading_is_no_traceback():
    """`crossreg list | head -1`: the reader closes the pipe (here before a byte is read)."""
    read, write = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "list"], stdout=write,
                            stderr=subprocess.PIPE, text=True)
    os.close(write)
    os.close(read)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141, err  # as a command killed by SIGPIPE


def test_a_garbage_ray_address_is_named_as_the_variable(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "garbage")
    line = _one_line_error(capsys, ["run", "--smoke", "--storage", str(tmp_path)])
    assert "RAY_ADDRESS" in line and "--address" not in line, line
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{_free_port()}")
    line = _one_line_error(capsys, ["run", "--smoke", "--storage", str(tmp_path)])
    assert "RAY_ADDRESS" in line and "cannot reach a Ray cluster" in line, line
