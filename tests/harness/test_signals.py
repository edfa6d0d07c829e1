"""Signals as schedulers send them: SIGTERM (SLURM, Kubernetes) like Ctrl-C, to the driver
alone or to its whole process group, one or two of them, `--sequential` or side by side (the
default).

Each case runs `crossreg run` (the console's `main`, with the synthetic trainable slowed to
0.3 s an epoch) in a process group of its own, signals it once the first rows are written,
and then checks what a scheduler's user relies on: exit 130, the run recorded `interrupted`,
the resume hint, no traceback, and no process of that run's Ray session alive 10 s later
(Ray's agents included).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from interrupting import read_trials, wait_for

SYNTHETIC = "harness.testing:synthetic_train_fn"

# `crossreg run` as the console script runs it; the synthetic trainable sleeps per epoch
# (an option the CLI does not offer: RunOptions' extra_config) so the run can be caught
# half-way. argv: the CLI's arguments.
DRIVER = """
import functools, sys
from harness import cli
from harness.run import runner
runner.RunOptions = functools.partial(runner.RunOptions, extra_config={"sleep_s": 0.3})
sys.exit(cli.main(sys.argv[1:]))
"""


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every process on the machine."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        out[int(entry)] = (int(fields[1]), fields[0], cmdline)
    return out


def _tree(root: int) -> dict[int, str]:
    """The processes below `root` (Ray's services, agents and workers), with command lines."""
    procs = _processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, cmd) in procs.items():
            if ppid == parent and pid not in found:
                found[pid] = cmd
                frontier.append(pid)
    return found


def _alive(pids: set[int], session: str | None) -> list[str]:
    """Of `pids`, and of every process naming the Ray session `session`, those still alive
    (a zombie is dead: it only waits for a parent to collect it)."""
    out = []
    for pid, (_, state, cmd) in _processes().items():
        if state != "Z" and (pid in pids or (session and session in cmd)):
            out.append(f"{pid} {cmd[:120]}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("target, signals, concurrent", [
    ("driver", (signal.SIGTERM,), False),
    ("group", (signal.SIGTERM,), False),
    ("group", (signal.SIGTERM, signal.SIGTERM), False),
    ("group", (signal.SIGTERM,), True),
], ids=["sigterm-driver", "sigterm-group", "two-sigterms-group", "sigterm-group-concurrent"])
def test_a_stop_signal_stops_the_run_gracefully(tmp_path, target, signals, concurrent):
    storage = tmp_path / "runs"
    argv = [sys.executable, "-c", DRIVER, "run", "quick", "--seeds", "1", "--storage",
            str(storage), "--trainable", SYNTHETIC, "--strategies", "cross_reg", "fixed",
            "--set", "epochs=30", "--set", "n_train=120", *([] if concurrent else ["--sequential"])]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: any(len(rows) >= 2 for rows in read_trials(
            next(storage.glob("quick-*/cross_reg-seed0"), storage / "none")).values()),
            timeout=240, what="cross_reg's second epoch")
        ray_processes = _tree(proc.pid)
        sessions = {m.group(0) for cmd in ray_processes.values()
                    for m in [re.search(r"session_\d{4}-\d\d-\d\d_[\d-]+_\d+_\d+", cmd)] if m}
        for i, sig in enumerate(signals):
            if i:
                time.sleep(0.3)  # the second while the first's graceful stop is under way
            if target == "driver":
                os.kill(proc.pid, sig)
            else:
                os.killpg(proc.pid, sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert re.search(r"^crossreg: .*crossreg resume \S+", out, re.M), out[-3000:]
    run = next(storage.glob("quick-*"))
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "interrupted"
    assert "cross_reg-seed0" not in meta["completed"]
    assert ray_processes, "no Ray process seen under the driver"
    assert len(sessions) <= 1, sessions
    session = next(iter(sessions), None)
    deadline = time.monotonic() + 10  # the bound: gone within 10 s of the exit
    while (left := _alive(set(ray_processes), session)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, left


# A second signal, cheaply (no Ray): the two places where a stop ended without naming the run.

SECOND_SIGNAL = """
import os, signal, sys, time
from harness.run import interrupts
interrupts.note_run(sys.argv[1])
with interrupts.StopSignals() as stop:
    stop.received = signal.SIGTERM  # the first stop was handled; the run is unwinding
os.kill(os.getpid(), signal.SIGTERM)  # the scheduler's second SIGTERM
time.sleep(30)
"""


def test_a_second_signal_stops_at_once_with_the_resume_hint(tmp_path):
    """After the first stop the driver's last handler leaves at once; the user may not have
    seen the first stop's line yet (the second signal can come before it is printed), so the
    immediate exit names the resume command too."""
    run = str(tmp_path / "quick-20260101-120000-000")
    proc = subprocess.run([sys.executable, "-c", SECOND_SIGNAL, run], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == f"crossreg: stopped at once; continue it with: crossreg resume {run}"


# A signal after Ray has shut down at exit: `ray.shutdown` sets SIGTERM back to the default
# action in C, under Python's handler, and Python itself does so as it finalizes. The
# scheduler's late second SIGTERM comes from an exit hook registered first (it runs last,
# after the harness's own shutdown hook) or, later still, from an object that __main__'s
# teardown deletes.
SIGNAL_AFTER_SHUTDOWN = """
import atexit, os, signal, sys, time
from harness.run import interrupts, session
def late_signal():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1)
class Finalized:
    def __del__(self):
        late_signal()
if sys.argv[2] == "exit hook":
    atexit.register(late_signal)
else:
    last = Finalized()
interrupts.note_run(sys.argv[1])
with interrupts.StopSignals() as stop:
    session.connect(None)
    stop.received = signal.SIGTERM
sys.exit(130)
"""


@pytest.mark.slow
@pytest.mark.parametrize("when", ["exit hook", "finalization"])
def test_a_signal_after_ray_shut_down_still_exits_130(tmp_path, when):
    run = str(tmp_path / "quick-20260101-120000-000")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-c", SIGNAL_AFTER_SHUTDOWN, run, when],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_a_signal_while_a_resume_connects_ends_in_the_resume_hint(tmp_path, monkeypatch):
    """Ctrl-C while `crossreg resume` starts Ray (seconds; no graceful stop to ask for yet):
    the run, the lock and the exit are an interrupt's, and the message names the run."""
    from harness.errors import Interrupted
    from harness.experiments import registry
    from harness.run import interrupts, metadata, runner
    from harness.run.lock import RunLock
    from harness.run.storage import Storage

    monkeypatch.setattr(interrupts, "_run_root", None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    spec = registry.get("quick").replace(name="hint", strategies=("fixed",), seeds=1, epochs=2)
    (tmp_path / "hint-20260101-120000-000").mkdir()
    run = Storage(str(tmp_path / "hint-20260101-120000-000"))
    meta = metadata.new(spec.to_dict(), [0], ["fixed"], SYNTHETIC, None)
    meta["status"] = "interrupted"
    metadata.write(run, meta)

    def interrupted_connect(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "connect", interrupted_connect)
    with pytest.raises(Interrupted, match=rf"continue it with: crossreg resume {re.escape(run.root)}$"):
        runner.resume(run.root, runner.RunOptions(trainable=SYNTHETIC, echo=lambda s: None))
    assert metadata.read(run)["status"] == "interrupted"
    with RunLock(run) as lock:  # released: the next resume takes it, no stale holder
        assert not lock.took_over
