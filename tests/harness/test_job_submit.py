"""`ray start --head` + `ray job submit -- crossreg run ...` gives the same result files as a
local run. The test starts and stops that cluster itself, with token authentication on (a
fresh Ray turns it on by default; the token travels in RAY_AUTH_TOKEN to every process)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness.cli.commands import main

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = "harness.testing:synthetic_train_fn"
ARGS = ["quick", "--smoke", "--strategies", "cross_reg", "--seeds", "1",
        "--trainable", SYNTHETIC, "--quiet"]
DETERMINISTIC = ("cross_reg-seed0",)
VOLATILE = {"train_seconds", "time_this_iter_s", "time_total_s", "timestamp", "time_since_restore",
            "iterations_since_restore", "pid", "hostname", "node_ip", "node_id", "date",
            "trial_id", "checkpoint_dir_name", "done", "should_checkpoint", "config",
            "experiment_tag"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_cluster(temp_dir: str) -> list[str]:
    """Stop only the processes of the cluster this test started: those whose command lines
    name its unique temp dir, and their descendants (`ray stop` would kill every Ray on the
    machine). The raylet's agents and workers rename themselves (`ray::DashboardAgent`), so
    only descent finds them; an orphaned dashboard agent spins on the dead GCS for as long as
    it lives (38 CPU-s in its first 50 s, measured), through the rest of the test run."""
    import psutil
    import ray  # noqa: F401  (puts Ray's bundled psutil on sys.path)

    mine: dict[int, psutil.Process] = {}
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if p.pid != os.getpid() and any(temp_dir in a for a in (p.info["cmdline"] or [])):
                mine.update({q.pid: q for q in [p, *p.children(recursive=True)]})
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    names = []
    for p in mine.values():
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            names.append(" ".join(p.cmdline()))
    for p in mine.values():
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(mine.values()), timeout=15)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return names


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _results(run: Path) -> dict[str, list[list[dict]]]:
    """Per Tune experiment: the trials' stable rows, sorted by their config (not trial id)."""
    out = {}
    for exp in sorted(p for p in run.iterdir() if p.is_dir()):
        trials = []
        for t in exp.iterdir():
            if (t / "params.json").exists():
                params = json.loads((t / "params.json").read_text())
                rows = [{k: v for k, v in json.loads(x).items() if k not in VOLATILE}
                        for x in (t / "result.json").read_text().splitlines() if x]
                trials.append((json.dumps(params, sort_keys=True), rows))
        out[exp.name] = [rows for _, rows in sorted(trials, key=lambda t: t[0])]
    return out


@pytest.mark.slow
def test_job_submission_matches_a_local_run(tmp_path, capsys):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    temp_dir = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: Unix socket path limit
    # every port on its own: the job agent's default (52365) may be held by another Ray on
    # the machine (a second test process), and then no agent ever takes the job
    port, dash, agent = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    ray_bin = _ray_bin()
    subprocess.run([ray_bin, "start", "--head", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={dash}", f"--dashboard-agent-listen-port={agent}",
                    f"--temp-dir={temp_dir}", "--disable-usage-stats"],
                   env=env, check=True, capture_output=True, timeout=180)
    try:
        remote_storage = tmp_path / "remote"
        deadline = time.monotonic() + 240
        while True:  # the head's job agent registers a few seconds after `ray start` returns
            job = subprocess.run(
                [ray_bin, "job", "submit", "--address", f"http://127.0.0.1:{dash}",
                 "--working-dir", str(REPO), "--", "crossreg", "run", *ARGS,
                 "--storage", str(remote_storage), "--address", "auto"],
                env=env, capture_output=True, text=True, timeout=420)
            if "No available agent" not in job.stderr or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert "succeeded" in job.stdout
    finally:
        stopped = _stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert any(name.startswith("ray::DashboardAgent") for name in stopped), stopped

    local_storage = tmp_path / "local"
    assert main(["run", *ARGS, "--storage", str(local_storage)]) == 0, capsys.readouterr().err
    ray.shutdown()
    (remote_run,) = remote_storage.iterdir()
    (local_run,) = local_storage.iterdir()
    remote, local = _results(remote_run), _results(local_run)
    assert sorted(remote) == sorted(local) == ["cross_reg-seed0"]
    for name in DETERMINISTIC:  # no sampling: identical rows, trial for trial
        assert remote[name] == local[name], name
    for name in remote:  # same trials and epochs, same columns
        assert [len(rows) for rows in remote[name]] == [len(rows) for rows in local[name]]
        assert [sorted(r[0]) for r in remote[name]] == [sorted(r[0]) for r in local[name]]
    meta = json.loads((remote_run / "metadata.json").read_text())
    assert meta["status"] == "finished" and meta["address"] == "auto"
