#!/usr/bin/env bash
# Install crossreg-harness into ./.venv with the torch build that fits this machine.
#
#   ./install.sh            the package
#   ./install.sh '[test]'   with extras (test, rivals, log)
#
# PyPI's torch is the CUDA build (an environment of ~6.5 GB, 3.2 GB of it NVIDIA libraries).
# On a machine without an NVIDIA GPU (no `nvidia-smi`), torch and torchvision come first from
# PyTorch's CPU wheel index (torch ~0.9 GB) when that index answers; where it does not (a
# machine that reaches only the default package index), pip's default build is installed and
# this script says so. CROSSREG_TORCH=default skips the CPU index; CROSSREG_TORCH=cpu insists.
# Then `pip install -e ".$EXTRAS"` keeps whichever torch is there, and the project's own
# modules are compiled once.
set -euo pipefail
cd "$(dirname "$0")"

extras="${1:-}"
case "$extras" in
  "" | \[*\]) ;;
  *) echo "install.sh: extras are given in brackets, e.g. ./install.sh '[test]'" >&2; exit 2 ;;
esac
cpu_index="https://download.pytorch.org/whl/cpu"
want="${CROSSREG_TORCH:-auto}"

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate

say() { echo "install.sh: $*"; }

cpu_fails() {  # the CPU path cannot be taken: an error if it was asked for, else the default
  if [ "$want" = cpu ]; then
    say "$1, and CROSSREG_TORCH=cpu" >&2
    exit 1
  fi
  say "$1: installing the default torch, the CUDA build (about 6.5 GB; it runs on the CPU)"
}

if [ "$want" = cpu ] || { [ "$want" = auto ] && ! command -v nvidia-smi >/dev/null 2>&1; }; then
  # ask the index first: a machine that reaches only the default package index fails here in
  # a second, and installs torch once, not twice
  if ! python -c "import urllib.request as u; u.urlopen('$cpu_index/torch/', timeout=10)" \
      >/dev/null 2>&1; then
    cpu_fails "PyTorch's CPU wheel index ($cpu_index) did not answer"
  elif ! pip install --quiet --index-url "$cpu_index" --timeout 15 --retries 1 torch torchvision; then
    cpu_fails "installing torch from PyTorch's CPU wheel index ($cpu_index) failed"
  elif ! python -c 'import torch, torchvision' >/dev/null 2>&1; then
    # pip's own configuration (find-links, a mirror) can mix a CPU torch with a torchvision
    # built for another torch: undo it rather than leave an environment that cannot import
    pip uninstall --quiet --yes torch torchvision
    cpu_fails "the torch and torchvision pip found for the CPU index do not import together"
  elif python -c 'import sys, torch; sys.exit(torch.version.cuda is not None)'; then
    say "no NVIDIA GPU here: PyTorch's CPU build (about 1 GB with its libraries)"
  else
    say "no NVIDIA GPU here, but a local wheel or mirror gave torch's CUDA build" \
        "(about 6.5 GB; it runs on the CPU)"
  fi
fi
pip install --quiet -e ".$extras"
# An editable install leaves the project's own modules uncompiled. Where PYTHONDONTWRITEBYTECODE
# is set (these machines set it) no process caches them, so every Ray worker and driver would
# compile what it imports, each time (~0.05 s a process; a CI run starts ~400).
python -m compileall -q -j 0 trainables harness analysis >/dev/null
say "done: . .venv/bin/activate, then crossreg run quick --seeds 1"
