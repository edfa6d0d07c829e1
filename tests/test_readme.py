"""Every fenced code block of README.md runs as written, or says here why it cannot.

A newcomer pastes the README's blocks in order; a flag renamed, a key removed, an example
whose data is too small for its experiment must fail here, not in their shell. Every block,
and every command of a bash block (split at `&&` and newlines), is classified in one of the
explicit tables below, and a README command in none of them fails the test, so a new block
forces a decision; an entry whose command left the README fails too.

- RUN: executed for real, in a scratch directory, in README order, `crossreg` from this
  environment: the "Bring your own" example with and without `--smoke` (its files are the
  README's own blocks), then the commands and the pandas block that read a run directory, with
  the README's placeholder `results/quick-20261125-170000-000` replaced by the directory the
  `--smoke` run printed (PYTHONPATH=. as the example says, so its `mypkg` stays importable).
- CHECKED: commands that train for minutes or hours (or need a GPU, CIFAR files): their
  arguments are parsed by the real parser, the experiment resolved (registry, TOML, `--set`,
  budgets) and preflighted as on a cluster (no data files, no device), without training.
  The plain-Python `run_trial` block (a 60-epoch MNIST-1D run): its config goes through
  `trainables.check_config`.
- SKIPPED: installing (CI's own job, .ci/run), Ray cluster commands and a bucket (need a
  cluster), the test command itself, and the own-Tuner recipe, run by
  tests/harness/test_own_tuner.py.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PLACEHOLDER = "results/quick-20261125-170000-000"

INSTALL = "installs an environment: what CI itself does (.ci/run)"
CLUSTER = "needs a real Ray cluster (cluster.yaml, a bucket)"
SUITES = ("covered by tests/harness/test_suite.py (a --config --smoke suite end to end, analysed and "
          "resumed; small preflighted; plans printed); a real suite takes hours")
SKIPPED: dict[str, str] = {
    "./install.sh": INSTALL + "; its choices: tests/test_install.py",
    "./install.sh [test]": INSTALL,
    "python3 -m venv .venv": INSTALL,
    ". .venv/bin/activate": INSTALL,
    "pip install -e .": INSTALL,
    "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu": INSTALL,
    "python -m pytest -n 3 --dist loadfile --no-loadscope-reorder": "the test suite itself",
    "ray get-auth-token --generate": CLUSTER,
    "ray up cluster.yaml": CLUSTER,
    "ray dashboard cluster.yaml": CLUSTER,
    "RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 --working-dir . -- "
    "crossreg run cifar10-resnet18-noise --storage s3://BUCKET/crossreg": CLUSTER,
    "crossreg analyze s3://BUCKET/crossreg/cifar10-resnet18-noise-<timestamp>": CLUSTER,
    "ray down cluster.yaml": CLUSTER,
    "crossreg suite small --plan --device-flops 2e10": SUITES,
    "crossreg suite small": SUITES,
    "crossreg suite --config suite.toml --smoke": SUITES,
    "crossreg suite paper --plan --device-flops h100": SUITES,
}
CHECKED: dict[str, str] = {
    "crossreg run quick --seeds 1": "the main job, ~1.5 min on an idle 2-core CPU",
    "crossreg run": "the main job",
    "crossreg run mnist1d-noise --seeds 3": "MNIST-1D, an hour",
    "crossreg run quick --strategies cross_reg pbt": "minutes",
    "crossreg run quick --set epochs=40 --set K=8": "minutes",
    "crossreg run --config my_experiment.toml": "MNIST-1D, hours (the README's TOML block)",
    "crossreg run quick --smoke": "five searches, a minute or two under load; the --smoke "
                                  "path runs below on mine.toml",
    "crossreg run mnist1d-noise --sequential": "MNIST-1D, an hour",
    "crossreg run quick --log tensorboard --log mlflow": "the main job; `quick --smoke` with both "
        "loggers runs for real in tests/harness/test_registered_experiments.py",
    "crossreg sweep mnist1d-noise --seeds 5": "hours",
    "crossreg sweep mnist1d-noise --seeds 5 --strategies cross_reg pbt grid_cv asha": "hours",
    "crossreg sweep quick --budget pbt_population=2,4 --budget r=1,10": "minutes",
    "crossreg run cifar10-resnet18-noise --gpus-per-trial 0.25 --set data_dir=/data/cifar":
        "a GPU and the CIFAR-10 files",
}
RUN: tuple[str, ...] = (
    "PYTHONPATH=. crossreg run --config mine.toml --smoke",
    "PYTHONPATH=. crossreg run --config mine.toml",
    "crossreg list",
    "crossreg keys quick",
    f"crossreg resume {PLACEHOLDER}",
    f"crossreg analyze {PLACEHOLDER} --csv table.csv --cost flops",
    f"crossreg report {PLACEHOLDER}",
)


def blocks() -> list[tuple[str, str, str]]:
    """(language, code, the line before the fence) of every fenced block, in order."""
    found = re.findall(r"(?ms)^([^\n]*)\n```(\w*)\n(.*?)^```", README.read_text())
    return [(lang, code, before) for before, lang, code in found]


def commands(code: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments dropped, split at
    `&&`, each as its words joined by one space (quotes removed: `pip install -e .[test]`)."""
    out: list[str] = []
    for line in code.replace("\\\n", " ").splitlines():
        part: list[str] = []
        for word in [*shlex.split(line, comments=True), "&&"]:
            if word == "&&":
                out += [" ".join(part)] if part else []
                part = []
            else:
                part.append(word)
    return out


def files(code: str) -> dict[str, str]:
    """The files a block states, each headed by a `# path` comment line (`# mypkg/nets.py:
    ...`, `# mine.toml`); none for a block without such headers."""
    parts = re.split(r"(?m)^# ([\w/.-]+\.(?:py|toml))\b.*\n", code)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_block_and_command_is_classified():
    bash = [c for lang, code, _ in blocks() if lang == "bash" for c in commands(code)]
    known = set(SKIPPED) | set(CHECKED) | set(RUN)
    assert [c for c in bash if c not in known] == [], "classify new README commands here"
    assert [c for c in known if c not in bash] == [], "commands no longer in the README"
    for lang, code, before in blocks():
        assert lang in ("bash", "python", "toml", ""), lang
        if lang == "toml":
            assert files(code), f"a TOML block names its file: {code[:60]}"
        if lang == "python" and "recipe:own-tuner" not in before and not files(code):
            assert PLACEHOLDER in code or "run_trial(" in code, code[:80]


def _check_command(cmd: str, cwd: Path) -> None:
    """Parse, resolve and preflight one `crossreg run/sweep` without training."""
    from harness.cli.commands import build_parser, resolve_spec
    from harness.experiments import sweep
    from harness.run import preflight, runner

    args = build_parser().parse_args(shlex.split(cmd)[1:])
    old = os.getcwd()
    os.chdir(cwd)
    try:
        spec = resolve_spec(args)
    finally:
        os.chdir(old)
    variants = None
    if args.command == "sweep":
        variants = sweep.variants(spec, sweep.parse_budgets(args.budgets))
    entries = list(variants) if variants is not None else list(spec.strategies)
    work = runner.tasks(spec, {"strategies": entries, "sweep": variants})
    preflight.check(spec.name, list(work.values()), on_cluster=True, own_trainable=True)


def _write_files(where: Path) -> None:
    for _lang, code, _ in blocks():
        for name, text in files(code).items():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            (where / name).write_text(text)


def test_the_long_commands_parse_resolve_and_pass_preflight(tmp_path):
    _write_files(tmp_path)
    for cmd in CHECKED:
        _check_command(cmd, tmp_path)


def test_the_run_trial_block_passes_check_config():
    from trainables import check_config

    (code,) = [code for lang, code, _ in blocks() if lang == "python" and "run_trial(" in code]
    call = next(n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "run_trial")
    check_config(ast.literal_eval(call.args[0]), files=False, device=False)


def _sh(cmd: str, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_the_readme_runs_as_written(tmp_path):
    _write_files(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": "."}
    run_dir = None
    for cmd in RUN:
        if PLACEHOLDER in cmd:
            assert run_dir is not None
            cmd = cmd.replace(PLACEHOLDER, run_dir)
        out = _sh(cmd, tmp_path, env)
        if cmd.endswith("--smoke"):
            run_dir = re.search(r"^results: (\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
            assert "finished" in out and "mine-smoke" in out
        elif "mine.toml" in cmd:
            assert re.search(r"(?m)^results: \S+/mine-\d", out) and "finished" in out, out
    assert (tmp_path / "table.csv").is_file() and (Path(run_dir) / "report.html").is_file()
    (code,) = [code for lang, code, _ in blocks() if lang == "python" and PLACEHOLDER in code]
    script = tmp_path / "analysis_block.py"
    script.write_text(code.replace(PLACEHOLDER, run_dir))
    _sh(f"{shlex.quote(sys.executable)} {script}", tmp_path, env)
